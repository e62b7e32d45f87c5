"""Elasticsearch side of Hadath: the index template (mapping + Arabic analyzers), the document
shape, and index/alias set-up.

The analyzers use only stock component names (``mapping`` char filter, ``standard`` tokenizer,
``lowercase``, ``decimal_digit``, ``arabic_normalization``, ``arabic_stem``), so the same
template works on the stock Elasticsearch image and on the local integ-test distribution with
the project's small analysis plugin (``infra/local``). The char filter's rules are generated
from the one normalization table in :mod:`shared.arabic`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from shared.arabic import es_char_filter_mappings
from shared.neardup import band_keys
from shared.schemas import ENTITY_LABELS, EnrichedArticle, EventDocument
from shared.settings import Settings

ANALYZER = "hadath_arabic"
EXACT_ANALYZER = "hadath_arabic_exact"


def analysis_settings() -> dict[str, Any]:
    """The ``settings.analysis`` block: the recall analyzer (stemmed) and the exact one."""
    return {
        "char_filter": {
            "hadath_fold": {"type": "mapping", "mappings": es_char_filter_mappings()},
        },
        "analyzer": {
            ANALYZER: {
                "type": "custom", "tokenizer": "standard", "char_filter": ["hadath_fold"],
                "filter": ["lowercase", "decimal_digit", "arabic_normalization", "arabic_stem"],
            },
            EXACT_ANALYZER: {
                "type": "custom", "tokenizer": "standard", "char_filter": ["hadath_fold"],
                "filter": ["lowercase", "decimal_digit", "arabic_normalization"],
            },
        },
    }


def _text_field() -> dict[str, Any]:
    return {
        "type": "text", "analyzer": ANALYZER, "term_vector": "with_positions_offsets",
        "fields": {"exact": {"type": "text", "analyzer": EXACT_ANALYZER,
                             "term_vector": "with_positions_offsets"}},
    }


def mappings() -> dict[str, Any]:
    """The document mapping (fields of :class:`shared.schemas.EventDocument` + facet keys).

    ``entity_keys.<LABEL>`` holds each entity's canonical ``normalized`` key as a keyword,
    the field facets and ``--entity LABEL:VALUE`` filters use (Kibana can aggregate it, unlike
    a nested field).
    """
    keyword = {"type": "keyword"}
    return {
        "dynamic": "strict",
        "properties": {
            "article_id": keyword, "parent_id": keyword, "source": keyword, "url": keyword,
            "title": _text_field(), "body": _text_field(),
            "published_at": {"type": "date"}, "ingested_at": {"type": "date"},
            "language": keyword, "category": keyword, "duplicate_of": keyword,
            "dedup_keys": keyword,
            "signature": {"type": "keyword", "index": False, "doc_values": False},
            "entities": {"properties": {
                "text": keyword, "label": keyword, "normalized": keyword,
                "start": {"type": "integer"}, "end": {"type": "integer"},
                "score": {"type": "float"},
            }},
            "entity_keys": {"properties": {label: keyword for label in ENTITY_LABELS}},
            "places": {"properties": {
                "name": keyword, "geonameid": {"type": "long"}, "country_code": keyword,
                "location": {"type": "geo_point"}, "feature": keyword,
            }},
            "dates": {"properties": {
                "text": keyword, "value": keyword, "start": {"type": "integer"},
                "end": {"type": "integer"},
            }},
        },
    }


def index_template(settings: Settings) -> dict[str, Any]:
    """Body of the composable index template ``<alias>`` for indices ``<alias>-*``."""
    return {
        "index_patterns": [f"{settings.index_alias}-*"],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": 0,
                         "refresh_interval": "1s", "analysis": analysis_settings()},
            "mappings": mappings(),
        },
    }


def ensure_index(client: Elasticsearch, settings: Settings) -> None:
    """Put the template, create ``<alias>-v1`` and point the alias at it (idempotent)."""
    client.indices.put_index_template(name=settings.index_alias, **index_template(settings))
    if not client.indices.exists(index=settings.index_name):
        client.options(ignore_status=400).indices.create(
            index=settings.index_name, aliases={settings.index_alias: {"is_write_index": True}})


def document(article: EnrichedArticle) -> dict[str, Any]:
    """The JSON document indexed for ``article`` (``_id`` = ``article_id``)."""
    doc = EventDocument.from_enriched(article).model_dump(mode="json")
    keys: dict[str, list[str]] = {label: [] for label in ENTITY_LABELS}
    for e in article.entities:
        if e.normalized and e.normalized not in keys[e.label]:
            keys[e.label].append(e.normalized)
    doc["entity_keys"] = keys
    doc["signature"] = article.signature
    doc["dedup_keys"] = band_keys(article.signature) if article.signature else []
    return doc


def seen_key(ingested_at: str | datetime, article_id: str) -> str:
    """Sort key of "first seen" for near-duplicates: ISO UTC ``ingested_at`` (µs) + ``|`` + id."""
    if isinstance(ingested_at, str):
        ingested_at = datetime.fromisoformat(ingested_at.replace("Z", "+00:00"))
    return ingested_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "|" + article_id


def client(settings: Settings, **kwargs: Any) -> Elasticsearch:
    """A synchronous client for ``HADATH_ES_URL`` (request timeout 30 s unless given)."""
    kwargs.setdefault("request_timeout", 30)
    return Elasticsearch(settings.es_url, **kwargs)

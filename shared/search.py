"""Search with facets over the alias ``hadath-events`` (what ``hadath search`` prints).

The query matches every word of ``QUERY`` (in the title or the body), through the stemmed
analyzer for recall; matches on the unstemmed ``.exact`` fields score higher, so an exact
name outranks a stem match. Entity filters compare canonical keys (:func:`shared.arabic.entity_key`),
so any spelling of a name finds the same documents.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from elasticsearch import Elasticsearch

from shared.arabic import entity_key, normalize
from shared.schemas import ENTITY_LABELS
from shared.settings import Settings

FACET_SIZE = 10


def parse_entity_filter(spec: str) -> tuple[str, str]:
    """``"LOC:بغداد"`` → ``("LOC", <canonical key of بغداد>)``.

    Raises:
        ValueError: when the label is not PERS, LOC, ORG or MISC, or the value is empty.
    """
    label, sep, value = spec.partition(":")
    label = label.strip().upper()
    if not sep or label not in ENTITY_LABELS or not value.strip():
        raise ValueError(f"--entity takes LABEL:VALUE with LABEL one of {', '.join(ENTITY_LABELS)}; got {spec!r}")
    return label, entity_key(value.strip())


def build_query(query: str | None, *, entities: list[tuple[str, str]] = (), sources: list[str] = (),
                topics: list[str] = (), since: date | datetime | None = None,
                until: date | datetime | None = None, collapse_duplicates: bool = False,
                size: int = 10) -> dict[str, Any]:
    """The search request body (query, filters, facets, highlight) for the parameters given.

    ``since``/``until`` bound ``published_at`` (inclusive); ``collapse_duplicates`` leaves out
    near-duplicates (documents with a ``duplicate_of``), so each story shows once. Facets:
    top entity keys per label, sources, predicted topics, and a monthly ``published_at``
    histogram.
    """
    must: list[dict[str, Any]] = []
    should: list[dict[str, Any]] = []
    if query and query.strip():
        must.append({"combined_fields": {"query": query, "fields": ["title^2", "body"], "operator": "and"}})
        should.append({"multi_match": {"query": query, "fields": ["title.exact^3", "body.exact^1.5"],
                                       "type": "phrase", "boost": 2}})
    filters: list[dict[str, Any]] = [{"term": {f"entity_keys.{label}": key}} for label, key in entities]
    if sources:
        filters.append({"terms": {"source": list(sources)}})
    if topics:
        filters.append({"terms": {"topic": list(topics)}})
    if since or until:
        rng: dict[str, str] = {}
        if since:
            rng["gte"] = since.isoformat()
        if until:
            rng["lte"] = until.isoformat()
        filters.append({"range": {"published_at": rng}})
    must_not = [{"exists": {"field": "duplicate_of"}}] if collapse_duplicates else []
    # one sample document per bucket gives the key's display form (its written text)
    aggs: dict[str, Any] = {label: {"terms": {"field": f"entity_keys.{label}", "size": FACET_SIZE},
                                    "aggs": {"sample": {"top_hits": {"size": 3, "_source": ["entities"]}}}}
                            for label in ENTITY_LABELS}
    aggs["source"] = {"terms": {"field": "source", "size": FACET_SIZE}}
    aggs["topic"] = {"terms": {"field": "topic", "size": FACET_SIZE}}
    aggs["published_at"] = {"date_histogram": {"field": "published_at", "calendar_interval": "month",
                                               "format": "yyyy-MM", "min_doc_count": 1}}
    return {
        "size": size,
        "track_total_hits": True,
        "query": {"bool": {"must": must or [{"match_all": {}}], "should": should, "filter": filters,
                           "must_not": must_not}},
        "aggs": aggs,
        "highlight": {"fields": {"body": {"fragment_size": 160, "number_of_fragments": 2},
                                 "title": {"number_of_fragments": 0}}},
        "_source": {"excludes": ["body", "signature", "dedup_keys", "entity_keys"]},
    }


def _bucket(name: str, bucket: dict[str, Any]) -> dict[str, Any]:
    """``{"value", "count"}`` (+ ``"display"``: the entity as written, for entity facets)."""
    out = {"value": bucket.get("key_as_string", bucket["key"]), "count": bucket["doc_count"]}
    if "sample" in bucket:
        written = [e["text"] for hit in bucket["sample"]["hits"]["hits"] for e in hit["_source"].get("entities", [])
                   if e.get("label") == name and e.get("normalized") == out["value"]]
        # prefer a form without proclitics (its normalization is the key itself)
        plain = [t for t in written if normalize(t, collapse_whitespace=True) == out["value"]]
        candidates = plain or written or [out["value"]]
        out["display"] = max(candidates, key=candidates.count)  # the most common written form
    return out


def search(es: Elasticsearch, settings: Settings, query: str | None, **kwargs: Any) -> dict[str, Any]:
    """Run :func:`build_query` on the alias; returns the contract's shape.

    Shape: ``{"total": int, "hits": [{"article_id", "title", "score", "source", "published_at",
    "entities": [...], "places", "dates", "duplicate_of", "highlight": [str]}], "facets":
    {"PERS"|"LOC"|"ORG"|"MISC"|"source"|"topic"|"published_at": [{"value", "count"}]}}``
    (``published_at`` values are months, ``YYYY-MM``; entity facet entries also carry
    ``"display"``, the name as one article wrote it, while ``value`` is the canonical key).
    """
    resp = es.search(index=settings.index_alias, **build_query(query, **kwargs))
    hits = []
    for h in resp["hits"]["hits"]:
        src = h["_source"]
        hl = h.get("highlight", {})
        hits.append({
            "article_id": src["article_id"], "title": src.get("title"), "score": h.get("_score"),
            "source": src.get("source"), "published_at": src.get("published_at"),
            "parent_id": src.get("parent_id"), "entities": src.get("entities", []),
            "places": src.get("places", []), "dates": src.get("dates", []),
            "duplicate_of": src.get("duplicate_of"), "topic": src.get("topic"),
            "highlight": hl.get("body", []) or hl.get("title", []),
        })
    facets = {name: [_bucket(name, b) for b in agg["buckets"]] for name, agg in resp["aggregations"].items()}
    return {"total": resp["hits"]["total"]["value"], "hits": hits, "facets": facets}

"""Alerts: saved searches, matched against every new article with Elasticsearch's percolator.

An alert is one document of the percolator index behind ``HADATH_ALERTS_ALIAS`` (default
``hadath-alerts``; concrete index ``<alias>-<10 hex of its template>``, template ``<alias>``
for ``<alias>-*`` at priority 201, so it never collides with the article template's
``<index_alias>-*``). Its mapping is the article mapping (:func:`shared.es.mappings`, same
analyzers) plus:

* ``query`` (``percolator``): the saved query, built by :func:`alert_query` with the same
  full-text clauses as ``hadath search`` (:func:`shared.search.text_clauses`) and a ``term``
  filter on ``entity_keys.<LABEL>`` per ``--entity LABEL:VALUE``;
* ``alert`` (object): ``name`` (also the ``_id``), ``query`` (the text), ``entities``
  (``LABEL:key`` strings), ``webhook`` (URL or null), ``created_at``.

The index stage percolates each batch it wrote (:func:`percolate_body`, one request with
``documents``) and produces one :class:`shared.schemas.AlertMatch` per (alert, article) to
``articles.alerts`` (see :mod:`services.index.app`).

Each match is also kept as a document of the small matches index behind
:func:`matches_alias` (``<alerts_alias>.matches``; ``_id`` = :func:`match_id` of the alert and
the article, written with ``create``, so a replayed article keeps its first ``matched_at`` and
is never counted twice): the page (``/alerts``) reads each alert's recent matches from there
(:func:`recent_matches`), which survives a restart of every process and needs no consumer of
``articles.alerts``. ``hadath alerts remove`` deletes the alert's matches too.

A cluster without the percolator module (the integ-test distribution ``hadath infra up``
runs locally has none; the Docker image has it) gets the same index with ``query`` stored but
not indexed (``enabled: false``); the index stage then runs each saved query as a search on
the article alias restricted to the batch's ids (:func:`batch_search_body`): the same query
and analyzers, so the same matches, at one search per alert per batch instead of one request.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from elasticsearch import BadRequestError, Elasticsearch, helpers

from shared.es import _ensure_versioned, _versioned_name, analysis_settings, mappings
from shared.search import long_query_msm, parse_entity_filter, text_clauses
from shared.settings import Settings

#: Template priority of the alerts index: above the article/event templates' 200, so even an
#: ``HADATH_INDEX_ALIAS`` whose pattern would overlap never ties with it.
ALERTS_TEMPLATE_PRIORITY = 201
#: Most alerts one percolation returns (every match of a batch is one hit per alert).
MAX_ALERTS = 10_000
#: Recent matches :func:`recent_matches` returns per alert by default.
RECENT_MATCHES = 10


def alerts_mappings(*, percolator: bool = True) -> dict[str, Any]:
    """The alerts index mapping: the article fields, ``query`` (``percolator``, or a stored
    object when ``percolator`` is False) and ``alert``."""
    keyword = {"type": "keyword"}
    body = mappings()
    query = {"type": "percolator"} if percolator else {"type": "object", "enabled": False}
    body["properties"] = {**body["properties"], "query": query,
                          "alert": {"properties": {"name": keyword, "query": {"type": "keyword", "index": False},
                                                   "entities": keyword, "webhook": {"type": "keyword", "index": False},
                                                   "created_at": {"type": "date"}}}}
    return body


def alerts_index_template(settings: Settings, *, percolator: bool = True) -> dict[str, Any]:
    """Body of the composable index template ``<alerts_alias>`` for ``<alerts_alias>-*``.

    Raises:
        ValueError: the alias starts with ``<index_alias>-`` or ``<events_alias>-`` (their
            templates' patterns would take its index).
    """
    alias = settings.alerts_alias
    for other in (settings.index_alias, settings.events_alias):
        if alias.startswith(f"{other}-") or alias == other:
            raise ValueError(f"HADATH_ALERTS_ALIAS {alias!r} must not start with {other!r}-")
    return {
        "index_patterns": [f"{alias}-*"],
        "priority": ALERTS_TEMPLATE_PRIORITY,
        "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s",
                                  "analysis": analysis_settings()},
                     "mappings": alerts_mappings(percolator=percolator)},
    }


def alerts_index_name(settings: Settings, *, percolator: bool = True) -> str:
    """``<alerts_alias>-<10 hex of the template's hash>``."""
    return _versioned_name(settings.alerts_alias, alerts_index_template(settings, percolator=percolator))


def ensure_alerts_index(client: Elasticsearch, settings: Settings) -> str:
    """Put the template, create the alerts index and point the alias at it (saved alerts of an
    older index are copied over); returns the index name. Without the percolator module the
    index stores ``query`` unindexed (see the module docstring)."""
    ensure_matches_index(client, settings)
    try:
        return _ensure_versioned(client, settings.alerts_alias, alerts_index_template(settings),
                                 alerts_index_name(settings), [], lambda *_: None)
    except BadRequestError as exc:
        if "percolator" not in str(exc.body):
            raise
    return _ensure_versioned(client, settings.alerts_alias, alerts_index_template(settings, percolator=False),
                             alerts_index_name(settings, percolator=False), [], lambda *_: None)


def has_percolator(mapping_response: dict[str, Any]) -> bool:
    """Whether a get-mapping answer of the alerts alias has ``query`` as a percolator field."""
    return all(m.get("mappings", {}).get("properties", {}).get("query", {}).get("type") == "percolator"
               for m in mapping_response.values()) and bool(mapping_response)


def alert_query(query: str | None, entities: list[tuple[str, str]] = ()) -> dict[str, Any]:
    """The percolator query of an alert: every word of ``query`` in the title or body (the
    stemmed analyzer, as ``hadath search``) and each ``(label, key)`` entity filter.

    Raises:
        ValueError: neither a query nor an entity (it would match every article).
    """
    if not (query and query.strip()) and not entities:
        raise ValueError("an alert needs a QUERY or at least one --entity LABEL:VALUE")
    must, _ = text_clauses(query, names=[], msm=long_query_msm(query))
    filters = [{"term": {f"entity_keys.{label}": key}} for label, key in entities]
    return {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}


def alert_document(name: str, query: str | None, entity_specs: list[str] = (),
                   webhook: str | None = None, *, now: datetime | None = None) -> dict[str, Any]:
    """The alerts-index document of an alert (``_id`` = ``name``).

    Args:
        entity_specs: ``LABEL:VALUE`` strings as typed (values are keyed like ``--entity`` of
            ``hadath search``).
        webhook: an ``http://`` or ``https://`` URL POSTed each match, or None.

    Raises:
        ValueError: empty name, a bad ``LABEL:VALUE``, a webhook that is not http(s), or
            neither query nor entity.
    """
    if not name or not name.strip():
        raise ValueError("an alert needs a NAME")
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise ValueError(f"--webhook takes an http:// or https:// URL; got {webhook!r}")
    entities = [parse_entity_filter(spec) for spec in entity_specs]
    return {"query": alert_query(query, entities),
            "alert": {"name": name.strip(), "query": query or "", "entities": [f"{l}:{k}" for l, k in entities],
                      "webhook": webhook, "created_at": (now or datetime.now(UTC)).isoformat()}}


def add_alert(client: Elasticsearch, settings: Settings, name: str, query: str | None,
              entity_specs: list[str] = (), webhook: str | None = None) -> dict[str, Any]:
    """Save (or replace) the alert ``name``; it applies to articles indexed from now on.
    Returns its ``alert`` part. Raises ``ValueError`` as :func:`alert_document`."""
    doc = alert_document(name, query, entity_specs, webhook)
    ensure_alerts_index(client, settings)
    client.index(index=settings.alerts_alias, id=doc["alert"]["name"], document=doc, refresh="wait_for")
    return doc["alert"]


def list_alerts(client: Elasticsearch, settings: Settings) -> list[dict[str, Any]]:
    """Every saved alert's ``alert`` part, by name (empty when there is no alerts index)."""
    if not client.indices.exists_alias(name=settings.alerts_alias):
        return []
    resp = client.search(index=settings.alerts_alias, size=MAX_ALERTS, query={"match_all": {}},
                         source=["alert"], sort=[{"alert.name": "asc"}])
    # the one non-``alert`` field: the query as saved, for the page and `alerts list --json`
    return [h["_source"]["alert"] for h in resp["hits"]["hits"]]


def remove_alert(client: Elasticsearch, settings: Settings, name: str) -> bool:
    """Delete the alert ``name`` and its kept matches; False when there was no such alert."""
    if not client.indices.exists_alias(name=settings.alerts_alias):
        return False
    resp = client.options(ignore_status=404).delete(index=settings.alerts_alias, id=name, refresh="wait_for")
    alias = matches_alias(settings)
    if client.indices.exists_alias(name=alias):
        # scan + bulk delete: the local distribution has no delete-by-query (reindex module)
        helpers.bulk(client, ({"_op_type": "delete", "_index": hit["_index"], "_id": hit["_id"]}
                              for hit in helpers.scan(client, index=alias, _source=False,
                                                      query={"query": {"term": {"alert": name}}})),
                     raise_on_error=False, refresh="wait_for")
    return resp.get("result") == "deleted"


def matches_alias(settings: Settings) -> str:
    """Alias of the kept alert matches: ``<alerts_alias>.matches`` (outside the ``<alerts_alias>-*``
    pattern of the percolator template)."""
    return f"{settings.alerts_alias}.matches"


def matches_index_template(settings: Settings) -> dict[str, Any]:
    """Body of the index template ``<matches_alias>`` for ``<matches_alias>-*``: one document per
    :class:`shared.schemas.AlertMatch` (its JSON fields; ``title`` stored, not searched)."""
    keyword = {"type": "keyword"}
    properties = {"alert": keyword, "article_id": keyword, "event_id": keyword, "source": keyword,
                  "title": {"type": "keyword", "index": False, "doc_values": False},
                  "matched_at": {"type": "date"}, "schema_version": {"type": "integer"}}
    return {"index_patterns": [f"{matches_alias(settings)}-*"], "priority": ALERTS_TEMPLATE_PRIORITY,
            "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
                         "mappings": {"dynamic": False, "properties": properties}}}


def ensure_matches_index(client: Elasticsearch, settings: Settings) -> str:
    """Put the matches template, create its index (``<matches_alias>-<10 hex>``) and alias
    (idempotent); returns the index name."""
    alias, template = matches_alias(settings), matches_index_template(settings)
    return _ensure_versioned(client, alias, template, _versioned_name(alias, template), [], lambda *_: None)


def match_id(alert: str, article_id: str) -> str:
    """The ``_id`` of the kept match of ``alert`` for ``article_id``: 40 hex of SHA-256 over
    both (deterministic: a replay writes the same id)."""
    return hashlib.sha256(f"{alert}\x00{article_id}".encode()).hexdigest()[:40]


def match_actions(matches: list[dict[str, Any]], alias: str) -> list[dict[str, Any]]:
    """Bulk ``create`` actions keeping ``matches`` (AlertMatch JSON objects, as
    ``model_dump(mode="json")`` gives) in the index behind ``alias``; a 409 answer means the
    match was kept already."""
    return [{"_op_type": "create", "_index": alias, "_id": match_id(m["alert"], m["article_id"]), "_source": m}
            for m in matches]


def recent_matches_body(names: list[str], per_alert: int = RECENT_MATCHES) -> dict[str, Any]:
    """Search body: per alert of ``names``, its match count and its ``per_alert`` newest matches."""
    return {"size": 0, "query": {"terms": {"alert": names}},
            "aggs": {"by_alert": {"terms": {"field": "alert", "size": max(1, len(names))},
                                  "aggs": {"recent": {"top_hits": {"size": per_alert,
                                                                   "sort": [{"matched_at": "desc"}]}}}}}}


def recent_of(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{alert: {"total": matches, "matches": [AlertMatch JSON, newest first]}}`` of a
    :func:`recent_matches_body` answer."""
    out = {}
    for bucket in response.get("aggregations", {}).get("by_alert", {}).get("buckets", []):
        out[bucket["key"]] = {"total": bucket["doc_count"],
                              "matches": [h["_source"] for h in bucket["recent"]["hits"]["hits"]]}
    return out


def recent_matches(client: Elasticsearch, settings: Settings, names: list[str],
                   per_alert: int = RECENT_MATCHES) -> dict[str, dict[str, Any]]:
    """The kept matches of the alerts ``names`` (:func:`recent_of`; alerts without a match
    absent, everything empty before the first alert was saved)."""
    alias = matches_alias(settings)
    if not names or not client.indices.exists_alias(name=alias):
        return {}
    return recent_of(client.search(index=alias, **recent_matches_body(names, per_alert)))


def percolate_body(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The search body that percolates ``documents`` (article documents as indexed) in one
    request; each hit is an alert, ``fields._percolator_document_slot`` the matching positions."""
    return {"size": MAX_ALERTS, "query": {"percolate": {"field": "query", "documents": documents}},
            "_source": ["alert.name", "alert.webhook"]}


def matches_of(response: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    """``(document position, alert name, webhook)`` of a :func:`percolate_body` response, in
    position then name order."""
    out = []
    for hit in response["hits"]["hits"]:
        alert = hit["_source"].get("alert", {})
        for slot in hit.get("fields", {}).get("_percolator_document_slot", [0]):
            out.append((int(slot), alert.get("name", hit["_id"]), alert.get("webhook")))
    return sorted(out, key=lambda m: (m[0], m[1]))


def batch_search_body(alert_query_body: dict[str, Any], article_ids: list[str]) -> dict[str, Any]:
    """Search body of one saved query restricted to ``article_ids`` (the fallback without a
    percolator, run on the article alias after a refresh): the ids of the matching articles."""
    return {"size": len(article_ids), "_source": False,
            "query": {"bool": {"must": [alert_query_body], "filter": [{"ids": {"values": article_ids}}]}}}

"""Reading events: what ``hadath events``, ``hadath event ID`` and ``hadath search
--group-by-event`` ask Elasticsearch.

Event documents live behind ``HADATH_EVENTS_ALIAS`` (mapping :func:`shared.es.events_mappings`),
articles behind ``HADATH_INDEX_ALIAS``, each with its ``event_id``. The request bodies are built
by pure functions (``build_*``, :func:`event_filters`, :func:`ranked_event_ids`,
:func:`merge_newest`), tested without a server; the functions taking a client run them.

* Listing with a query: the article alias is searched with the same full-text clauses as
  ``hadath search`` (:func:`shared.search.text_clauses`), a ``terms`` aggregation on
  ``event_id`` gives the events of the matching articles, each with its best-scoring article
  (a ``top_hits`` of one), and the events are ranked by that best score (client side: the
  local Elasticsearch runs without the scripting module, so no ``max`` of ``_score``). The
  event documents of those ids are then fetched through the event filters.
* Listing without a query: the newest events by *last seen* — ``last_published_at``, else
  ``last_ingested_at`` (for events none of whose articles carries a date). Without scripts
  there is no "coalesce" sort, so two searches (dated events by ``last_published_at``, undated
  ones by ``last_ingested_at``) are merged (:func:`merge_newest`): exact for the top ``size``.
* Merged events (``merged_into`` set) are never listed; :func:`resolve_event` follows them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, UTC
from typing import Any

from elasticsearch import Elasticsearch

from shared.search import text_clauses
from shared.settings import Settings

__all__ = ["EVENT_FIELDS", "EVENT_DETAIL_FIELDS", "TIMELINE_FIELDS", "MAX_EVENT_BUCKETS", "MAX_MERGE_HOPS",
           "EventNotFound", "last_seen", "event_filters", "build_event_hits_query", "ranked_event_ids",
           "build_events_by_ids_query", "build_newest_events_queries", "merge_newest",
           "build_timeline_query", "event_summary", "list_events", "fetch_events", "resolve_event",
           "event_timeline", "events_written"]

#: The fields of one event in ``hadath events --json`` (the listing's contract).
EVENT_FIELDS = ("event_id", "title", "summary", "article_count", "source_count", "sources",
                "first_published_at", "last_published_at", "event_date", "topic", "trending",
                "entity_keys", "places")
#: ``hadath event ID --json``'s event: the listing's fields and these.
EVENT_DETAIL_FIELDS = EVENT_FIELDS + ("source_counts", "first_ingested_at", "last_ingested_at",
                                      "trending_score", "recent_count", "merged_from", "updated_at")
#: The fields of one article of an event's timeline.
TIMELINE_FIELDS = ("article_id", "title", "source", "url", "published_at", "ingested_at", "topic",
                   "duplicate_of")
#: Most events a query's articles are gathered into (``terms`` buckets); with more matching
#: events, the ones with the most matching articles are kept, then ranked by score.
MAX_EVENT_BUCKETS = 1000
#: Longest chain of merges :func:`resolve_event` follows.
MAX_MERGE_HOPS = 20
#: Most articles of one event's timeline.
MAX_TIMELINE = 1000

_NOT_MERGED = {"exists": {"field": "merged_into"}}  # a must_not clause
# what event hits bring back: never the clusterer's state or candidate fields
_EVENT_SOURCE_EXCLUDES = ["state", "cand_names", "cand_terms", "interval_lo_days", "interval_hi_days",
                          "article_ids"]


class EventNotFound(LookupError):
    """No event document has this id (``args[0]``: the id asked for)."""


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def last_seen(event: Mapping[str, Any]) -> str | None:
    """When an event was last seen: its ``last_published_at``, else its ``last_ingested_at``
    (ISO 8601 string as stored; None when it has neither)."""
    return event.get("last_published_at") or event.get("last_ingested_at")


def _moment(value: date | datetime) -> str:
    return value.isoformat()


def event_filters(*, entities: Sequence[tuple[str, str]] = (), topics: Sequence[str] = (),
                  since: date | datetime | None = None, trending: bool = False,
                  min_articles: int = 1) -> list[dict[str, Any]]:
    """Filter clauses on event documents (a ``bool`` query's ``filter``; merged events are left
    out separately).

    Args:
        entities: ``(label, canonical key)`` pairs (:func:`shared.search.parse_entity_filter`),
            each matched on ``entity_keys.<label>.value`` (all must hold).
        topics: any of these ``topic`` values.
        since: last seen on or after this moment: ``last_published_at >= since``, or, for an
            event without ``last_published_at``, ``last_ingested_at >= since``.
        trending: only ``trending: true``.
        min_articles: only events of at least this many articles (``article_count``).
    """
    filters: list[dict[str, Any]] = [{"term": {f"entity_keys.{label}.value": key}} for label, key in entities]
    if topics:
        filters.append({"terms": {"topic": list(topics)}})
    if since is not None:
        at = _moment(since)
        filters.append({"bool": {"minimum_should_match": 1, "should": [
            {"range": {"last_published_at": {"gte": at}}},
            {"bool": {"must_not": [{"exists": {"field": "last_published_at"}}],
                      "filter": [{"range": {"last_ingested_at": {"gte": at}}}]}},
        ]}})
    if trending:
        filters.append({"term": {"trending": True}})
    if min_articles > 1:
        filters.append({"range": {"article_count": {"gte": min_articles}}})
    return filters


def build_event_hits_query(query: str, *, buckets: int = MAX_EVENT_BUCKETS) -> dict[str, Any]:
    """Article-alias request body: the articles matching ``query`` (the clauses of ``hadath
    search``) gathered per ``event_id`` — aggregation ``events``: up to ``buckets`` terms
    buckets, each with ``best`` (a ``top_hits`` of one: its ``hits.max_score`` is the event's
    best score). No hits are returned (``size`` 0)."""
    must, should = text_clauses(query)
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"must": must or [{"match_all": {}}], "should": should}},
        "aggs": {"events": {"terms": {"field": "event_id", "size": buckets},
                            "aggs": {"best": {"top_hits": {"size": 1, "_source": False}}}}},
    }


def ranked_event_ids(response: Mapping[str, Any]) -> list[tuple[str, float, int]]:
    """``(event_id, best score, matching articles)`` of a :func:`build_event_hits_query`
    response, best score first (ties: more matching articles, then the id)."""
    ranked = []
    for b in response.get("aggregations", {}).get("events", {}).get("buckets", []):
        score = b.get("best", {}).get("hits", {}).get("max_score") or 0.0
        ranked.append((b["key"], float(score), int(b["doc_count"])))
    return sorted(ranked, key=lambda r: (-r[1], -r[2], r[0]))


def build_events_by_ids_query(ids: Sequence[str], filters: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Event-alias request body: the event documents of ``ids`` passing ``filters``
    (:func:`event_filters`), merged ones left out; up to ``len(ids)`` hits, in no useful order
    (the caller orders them as ``ids``)."""
    return {
        "size": len(ids),
        "track_total_hits": True,
        "query": {"bool": {"filter": [{"ids": {"values": list(ids)}}, *filters], "must_not": [_NOT_MERGED]}},
        "_source": {"excludes": _EVENT_SOURCE_EXCLUDES},
    }


def build_newest_events_queries(filters: Sequence[Mapping[str, Any]] = (), size: int = 10
                                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two event-alias request bodies for the newest ``size`` events passing ``filters``, merged
    ones left out: ``(dated, undated)`` — events with a ``last_published_at``, newest first by
    it, and events without one, newest first by ``last_ingested_at``. Merge their hits with
    :func:`merge_newest`; the sum of their totals is the number of events."""
    common = {"size": size, "track_total_hits": True, "_source": {"excludes": _EVENT_SOURCE_EXCLUDES}}
    dated = {**common,
             "query": {"bool": {"filter": [*filters, {"exists": {"field": "last_published_at"}}],
                                "must_not": [_NOT_MERGED]}},
             "sort": [{"last_published_at": {"order": "desc"}}, {"event_id": {"order": "asc"}}]}
    undated = {**common,
               "query": {"bool": {"filter": list(filters),
                                  "must_not": [_NOT_MERGED, {"exists": {"field": "last_published_at"}}]}},
               "sort": [{"last_ingested_at": {"order": "desc", "missing": "_last"}}, {"event_id": {"order": "asc"}}]}
    return dated, undated


def merge_newest(dated: Iterable[Mapping[str, Any]], undated: Iterable[Mapping[str, Any]],
                 size: int) -> list[dict[str, Any]]:
    """The ``size`` newest of two lists of event documents (``_source`` dicts) by
    :func:`last_seen` (ties: ``event_id``); events seen never come last."""
    events = [dict(e) for e in (*dated, *undated)]
    oldest = datetime.min.replace(tzinfo=UTC)
    events.sort(key=lambda e: e.get("event_id") or "")
    events.sort(key=lambda e: _ts(last_seen(e)) or oldest, reverse=True)
    return events[:size]


def build_timeline_query(event_id: str, *, size: int = MAX_TIMELINE) -> dict[str, Any]:
    """Article-alias request body: the articles of ``event_id``, by ``published_at`` (undated
    ones last), then ``ingested_at``, then ``article_id``; the fields of :data:`TIMELINE_FIELDS`."""
    return {
        "size": size,
        "track_total_hits": True,
        "query": {"bool": {"filter": [{"term": {"event_id": event_id}}]}},
        "sort": [{"published_at": {"order": "asc", "missing": "_last"}},
                 {"ingested_at": {"order": "asc", "missing": "_last"}}, {"article_id": {"order": "asc"}}],
        "_source": {"includes": list(TIMELINE_FIELDS)},
    }


def event_summary(doc: Mapping[str, Any], fields: Sequence[str] = EVENT_FIELDS) -> dict[str, Any]:
    """``doc`` (an event document's ``_source``) cut to ``fields``, a missing field as None
    (``entity_keys`` as ``{}``, ``sources`` and ``places`` as ``[]``)."""
    empty: dict[str, Any] = {"entity_keys": {}, "sources": [], "places": [], "source_counts": [], "merged_from": []}
    return {f: empty.get(f) if doc.get(f) is None else doc[f] for f in fields}


def _search_events(es: Elasticsearch, settings: Settings, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return es.search(index=settings.events_alias, **body)


def list_events(es: Elasticsearch, settings: Settings, query: str | None = None, *,
                entities: Sequence[tuple[str, str]] = (), topics: Sequence[str] = (),
                since: date | datetime | None = None, trending: bool = False, min_articles: int = 1,
                size: int = 10, fields: Sequence[str] = EVENT_FIELDS) -> dict[str, Any]:
    """The events ``hadath events`` lists: ``{"total": int, "events": [event]}``, each event the
    ``fields`` of its document (default :data:`EVENT_FIELDS`, see :func:`event_summary`).

    With ``query``: the events whose articles match it, best-matching article first; ``total``
    counts them (among the first :data:`MAX_EVENT_BUCKETS`). Without: the newest events by
    :func:`last_seen`; ``total`` counts every event passing the filters. Filters as
    :func:`event_filters`; merged events are never listed.

    Raises:
        elasticsearch.NotFoundError: an alias has no index behind it.
        RuntimeError: one of the searches failed (its error in the message).
    """
    filters = event_filters(entities=entities, topics=topics, since=since, trending=trending,
                            min_articles=min_articles)
    if query and query.strip():
        ranked = ranked_event_ids(es.search(index=settings.index_alias, **build_event_hits_query(query)))
        if not ranked:
            return {"total": 0, "events": []}
        ids = [r[0] for r in ranked]
        resp = _search_events(es, settings, build_events_by_ids_query(ids, filters))
        by_id = {h["_id"]: h["_source"] for h in resp["hits"]["hits"]}
        ordered = [by_id[i] for i in ids if i in by_id]
        return {"total": len(ordered), "events": [event_summary(d, fields) for d in ordered[:size]]}
    dated, undated = build_newest_events_queries(filters, size)
    resp = es.msearch(searches=[{"index": settings.events_alias}, dated, {"index": settings.events_alias}, undated])
    parts = []
    for r in resp["responses"]:
        if "error" in r:
            raise RuntimeError(f"event search failed: {r['error']}")
        parts.append(r)
    total = sum(r["hits"]["total"]["value"] for r in parts)
    newest = merge_newest(*([h["_source"] for h in r["hits"]["hits"]] for r in parts), size=size)
    return {"total": total, "events": [event_summary(d, fields) for d in newest]}


def _mget(es: Elasticsearch, settings: Settings, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    resp = es.mget(index=settings.events_alias, ids=list(ids), source_excludes=_EVENT_SOURCE_EXCLUDES)
    return {d["_id"]: d["_source"] for d in resp["docs"] if d.get("found")}


def fetch_events(es: Elasticsearch, settings: Settings, ids: Iterable[str], *,
                 follow_merged: bool = True) -> dict[str, dict[str, Any]]:
    """Event documents by id (``mget`` on the event alias): ``{asked id: _source}``, ids without
    a document left out. With ``follow_merged`` an id whose event was merged maps to the
    document of the event it was merged into (followed up to :data:`MAX_MERGE_HOPS` times; a
    missing target leaves the merged document)."""
    wanted = list(dict.fromkeys(ids))
    docs = _mget(es, settings, wanted)
    current = {i: i for i in wanted if i in docs}
    for _ in range(MAX_MERGE_HOPS if follow_merged else 0):
        targets = {c: docs[c].get("merged_into") for c in set(current.values())}
        missing = sorted({t for t in targets.values() if t and t not in docs})
        docs.update(_mget(es, settings, missing))
        moved = False
        for asked, c in current.items():
            t = targets.get(c)
            if t and t in docs and t != c:
                current[asked], moved = t, True
        if not moved:
            break
    return {asked: docs[c] for asked, c in current.items()}


def resolve_event(es: Elasticsearch, settings: Settings, event_id: str) -> tuple[list[str], dict[str, Any]]:
    """The event ``event_id`` names, following merges: ``(chain, document)`` — ``chain`` is the
    ids walked, ``[event_id]`` for an event that was not merged, ``[event_id, survivor, …]``
    otherwise; ``document`` is the last one's ``_source``.

    Raises:
        EventNotFound: no event document has the id ``event_id``.
    """
    docs = _mget(es, settings, [event_id])
    if event_id not in docs:
        raise EventNotFound(event_id)
    chain, doc = [event_id], docs[event_id]
    while doc.get("merged_into") and len(chain) <= MAX_MERGE_HOPS:
        target = doc["merged_into"]
        if target in chain:
            break
        found = _mget(es, settings, [target])
        if target not in found:
            break
        chain.append(target)
        doc = found[target]
    return chain, doc


def event_timeline(es: Elasticsearch, settings: Settings, event_id: str, *, size: int = MAX_TIMELINE) -> dict[str, Any]:
    """What ``hadath event ID`` shows: ``{"requested_id", "merged_chain": [ids], "event": {…},
    "total_articles": int, "articles": [{article fields}]}``.

    ``event`` carries :data:`EVENT_DETAIL_FIELDS` of the surviving event (:func:`resolve_event`;
    ``merged_chain`` is ``[]`` when ``event_id`` was not merged); ``articles`` are its first
    ``size`` articles from the article alias by ``published_at`` (undated ones last), then
    ``ingested_at`` (:data:`TIMELINE_FIELDS`); ``total_articles`` counts them all.

    Raises:
        EventNotFound: no event document has the id ``event_id``.
    """
    chain, doc = resolve_event(es, settings, event_id)
    resp = es.search(index=settings.index_alias, **build_timeline_query(chain[-1], size=size))
    articles = [{f: h["_source"].get(f) for f in TIMELINE_FIELDS} for h in resp["hits"]["hits"]]
    return {"requested_id": event_id, "merged_chain": chain if len(chain) > 1 else [],
            "event": event_summary({**doc, "event_id": chain[-1]}, EVENT_DETAIL_FIELDS),
            "total_articles": resp["hits"]["total"]["value"], "articles": articles}


def events_written(es: Elasticsearch, settings: Settings) -> dict[str, int]:
    """How far the event documents are (both aliases refreshed first): ``{"articles": article
    documents, "without_event": those with no ``event_id``, "event_articles": the sum of the
    event documents' ``article_count``}``. The events are all written when ``without_event`` is
    0 and ``event_articles == articles``."""
    es.indices.refresh(index=settings.index_alias)
    es.indices.refresh(index=settings.events_alias)
    articles = es.count(index=settings.index_alias)["count"]
    without = es.count(index=settings.index_alias,
                       query={"bool": {"must_not": [{"exists": {"field": "event_id"}}]}})["count"]
    resp = es.search(index=settings.events_alias, size=0, aggs={"n": {"sum": {"field": "article_count"}}})
    return {"articles": articles, "without_event": without,
            "event_articles": int(resp["aggregations"]["n"]["value"] or 0)}

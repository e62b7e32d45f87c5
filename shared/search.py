"""Search with facets over the article alias ``hadath-articles`` (what ``hadath search`` prints).

The query matches every word of ``QUERY`` (in the title or the body), through the stemmed
analyzer for recall (a query of :data:`LONG_QUERY_WORDS` words or more may miss one word:
:data:`LONG_QUERY_MSM`); matches on the unstemmed ``.exact`` fields score higher, so an exact
name outranks a stem match. A query word the stemmer would change and that the recognizer has
tagged as a name in some article (the ``names`` field) is matched as itself only — in
``names``, ``title.exact`` or ``body.exact`` — so a person missing from every name list is not
conflated with the words sharing its stem (:func:`tagged_name_words`). Entity filters compare canonical keys (:func:`shared.arabic.entity_key`),
so any spelling of a name finds the same documents.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from elasticsearch import Elasticsearch

from shared.arabic import entity_key, normalize
from shared.es import ANALYZER, EXACT_ANALYZER, NAME_MARK, NAMES_FIELD
from shared.schemas import ENTITY_LABELS
from shared.settings import Settings

FACET_SIZE = 10
#: Queries of at least this many words use :data:`LONG_QUERY_MSM` instead of every word.
LONG_QUERY_WORDS = 3
#: ``minimum_should_match`` of the stemmed clause for long queries: all words but one
#: ("مقتل أبو تقوى" finds "اغتيال أبو تقوى"); chosen on the relevance bench (README).
LONG_QUERY_MSM = "2<-1"


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


def text_clauses(query: str | None, *, names: list[str] = (), msm: str | None = None
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The full-text part of a search for ``query``: ``(must, should)`` clause lists of a
    ``bool`` query (both empty for no query or a blank one).

    ``must`` matches every word in the title or the body (stemmed analyzer) — with ``msm``
    (an Elasticsearch ``minimum_should_match``), that many of the words; each word of
    ``names`` (normalized words of ``query``, from :func:`tagged_name_words`) is matched
    unstemmed instead, in the ``names`` field or the ``.exact`` fields, and always required.
    ``should`` boosts phrase matches on the unstemmed ``.exact`` fields. :func:`build_query`
    and the event listing (:mod:`shared.event_search`) use the same clauses.
    """
    must: list[dict[str, Any]] = []
    should: list[dict[str, Any]] = []
    if query and query.strip():
        tagged = set(names)
        rest = " ".join(w for w in query.split() if normalize(w) not in tagged) if tagged else query
        if rest.strip():
            clause: dict[str, Any] = {"query": rest, "fields": ["title^2", "body"], "operator": "and"}
            if msm:
                clause.update(operator="or", minimum_should_match=msm)
            must.append({"combined_fields": clause})
        for word in sorted(tagged):
            must.append({"combined_fields": {"query": word, "fields": ["title.exact^2", "body.exact", NAMES_FIELD],
                                             "operator": "and"}})
        should.append({"multi_match": {"query": query, "fields": ["title.exact^3", "body.exact^1.5"],
                                       "type": "phrase", "boost": 2}})
    return must, should


def long_query_msm(query: str | None) -> str | None:
    """:data:`LONG_QUERY_MSM` for a query of :data:`LONG_QUERY_WORDS` words or more, else None."""
    return LONG_QUERY_MSM if query and len(query.split()) >= LONG_QUERY_WORDS else None


def tagged_name_words(es: Elasticsearch, index: str, query: str | None) -> list[str]:
    """The words of ``query`` (normalized, as written in it) that the stemmer would change,
    that are not protected names, and that the ``names`` field of some article in ``index``
    holds (a name the recognizer tagged). Two ``_analyze`` requests and one count search;
    Elasticsearch errors propagate."""
    if not query or not query.strip():
        return []
    words = [w for w in query.split() if normalize(w)]
    if not words:
        return []
    stemmed = es.indices.analyze(index=index, analyzer=ANALYZER, text=words)["tokens"]
    exact = es.indices.analyze(index=index, analyzer=EXACT_ANALYZER, text=words)["tokens"]
    # one token per word for Arabic words; keep the words whose two analyses differ
    by_pos_stem = {t["position"]: t["token"] for t in stemmed}
    cands = sorted({t["token"] for t in exact if not t["token"].endswith(NAME_MARK)
                    and by_pos_stem.get(t["position"]) not in (None, t["token"])
                    and t["token"] in {normalize(w) for w in words}})
    if not cands:
        return []
    resp = es.search(index=index, size=0, aggs={"names": {"filters": {"filters": {
        w: {"term": {NAMES_FIELD: w}} for w in cands}}}})
    return [w for w, b in resp["aggregations"]["names"]["buckets"].items() if b["doc_count"] > 0]


def build_query(query: str | None, *, entities: list[tuple[str, str]] = (), sources: list[str] = (),
                topics: list[str] = (), since: date | datetime | None = None,
                until: date | datetime | None = None, collapse_duplicates: bool = False,
                group_by_event: bool = False, size: int = 10, offset: int = 0, names: list[str] = (),
                msm: str | None = None) -> dict[str, Any]:
    """The search request body (query, filters, facets, highlight) for the parameters given.

    ``since``/``until`` bound ``published_at`` (inclusive); ``collapse_duplicates`` leaves out
    near-duplicates (documents with a ``duplicate_of``), so each story shows once;
    ``group_by_event`` collapses the hits on ``event_id`` (Elasticsearch field collapsing: the
    best-scoring article of each event) and adds an ``events`` cardinality aggregation (how
    many events the matching articles belong to; articles without an ``event_id`` form one
    group). ``offset`` skips that many hits (or groups), for pages after the first (``from``:
    ``offset + size`` stays under the index's ``max_result_window``, 10,000 by default).
    ``names`` and ``msm`` go to :func:`text_clauses`. Facets: top entity keys per label, sources, predicted topics, and a monthly
    ``published_at`` histogram; they and ``total`` count articles, grouped or not.
    """
    must, should = text_clauses(query, names=names, msm=msm)
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
    body: dict[str, Any] = {
        "size": size,
        "from": offset,
        "track_total_hits": True,
        "query": {"bool": {"must": must or [{"match_all": {}}], "should": should, "filter": filters,
                           "must_not": must_not}},
        "aggs": aggs,
        # fvh over both analyses (the fields keep term vectors): a word matched only through
        # ``.exact`` (a name the query keeps whole) is marked as well
        "highlight": {"type": "fvh", "fields": {
            "body": {"fragment_size": 160, "number_of_fragments": 2, "matched_fields": ["body", "body.exact"]},
            "title": {"number_of_fragments": 0, "matched_fields": ["title", "title.exact"]}}},
        "_source": {"excludes": ["body", "signature", "dedup_keys", "entity_keys", NAMES_FIELD]},
    }
    if group_by_event:
        body["collapse"] = {"field": "event_id"}
        aggs["events"] = {"cardinality": {"field": "event_id"}}
    return body


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
    """Run :func:`build_query` on the article alias; returns the contract's shape.

    The query's tagged names (:func:`tagged_name_words`) and long-query rule
    (:func:`long_query_msm`) are looked up unless ``names`` / ``msm`` are given.

    Shape: ``{"total": int, "hits": [{"article_id", "title", "score", "source", "published_at",
    "event_id", "entities": [...], "places", "dates", "duplicate_of", "highlight": [str],
    "title_highlight": str | None}],
    "facets": {"PERS"|"LOC"|"ORG"|"MISC"|"source"|"topic"|"published_at": [{"value", "count"}]}}``
    (``published_at`` values are months, ``YYYY-MM``; entity facet entries also carry
    ``"display"``, the name as one article wrote it, while ``value`` is the canonical key).
    ``highlight`` holds body fragments (the title when the body has none), ``title_highlight``
    the whole title with its matches marked (None when the title matched nothing); matches are
    wrapped in ``<em>…</em>`` and the text is not HTML-escaped.

    With ``group_by_event=True`` there is one hit per event, the result also carries
    ``"total_events"`` (events among all matching articles), and each hit
    ``"event_source_count"`` / ``"event_article_count"``: its event's outlets and articles,
    read from the event documents (``HADATH_EVENTS_ALIAS``, one ``mget``; a merged event is
    followed to the one it was merged into; ``None`` when the article has no event or its
    event document is missing). Elasticsearch errors propagate (``NotFoundError`` without an
    article index).
    """
    kwargs.setdefault("names", tagged_name_words(es, settings.index_alias, query))
    kwargs.setdefault("msm", long_query_msm(query))
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
            "event_id": src.get("event_id"),
            "highlight": hl.get("body", []) or hl.get("title", []),
            "title_highlight": (hl.get("title") or [None])[0],
        })
    aggs = resp["aggregations"]
    facets = {name: [_bucket(name, b) for b in agg["buckets"]] for name, agg in aggs.items() if "buckets" in agg}
    result: dict[str, Any] = {"total": resp["hits"]["total"]["value"], "hits": hits, "facets": facets}
    if kwargs.get("group_by_event"):
        from shared.event_search import fetch_events

        result["total_events"] = aggs["events"]["value"]
        events = fetch_events(es, settings, [h["event_id"] for h in hits if h["event_id"]])
        for h in hits:
            event = events.get(h["event_id"]) if h["event_id"] else None
            h["event_source_count"] = event.get("source_count") if event else None
            h["event_article_count"] = event.get("article_count") if event else None
    return result

"""Search with facets over the article alias ``hadath-articles`` (what ``hadath search`` prints).

The query matches every word of ``QUERY`` (in the title or the body), through the stemmed
analyzer for recall (a query of :data:`LONG_QUERY_WORDS` words or more may miss one word:
:data:`LONG_QUERY_MSM`) or as itself; matches on the unstemmed ``.exact`` fields score higher,
so an exact name outranks a stem match. The stemmed fields are the title and body with the
names the recognizer tagged blanked out (:data:`shared.es.STEMMED_FIELDS`), so a common word
never finds a tagged name through its stem; a blanked name is found as itself, in ``.exact``
or ``names``. A query word the stemmer would change and that the recognizer has tagged as a
name in some article (the ``names`` field) is matched as itself only — in ``names``,
``title.exact`` or ``body.exact`` — so a name query never finds the words sharing its stem
(:func:`tagged_name_words`). Entity filters compare canonical keys
(:func:`shared.arabic.entity_key`), so any spelling of a name finds the same documents.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from elasticsearch import Elasticsearch

from shared.arabic import entity_key, normalize
from shared.es import (ANALYZER, EXACT_ANALYZER, NAME_MARK, NAMES_FIELD, STEMMED_FIELDS, bare_forms,
                       protected_name_forms)
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


#: The stemmed recall fields (the text with tagged names blanked, :data:`shared.es.STEMMED_FIELDS`).
STEMMED_MATCH = [f"{STEMMED_FIELDS['title']}^2", STEMMED_FIELDS["body"]]
#: The unstemmed fields a word is also matched in, as itself: a tagged name, blanked from the
#: stemmed fields, is still found by its written forms (``.exact``) and its key (``names``).
EXACT_MATCH = ["title.exact^2", "body.exact", NAMES_FIELD]


#: A document written without the stemmed fields (not by the index stage) is matched stemmed
#: on ``title``/``body``, as before they existed.
_UNMASKED = {"must_not": [{"exists": {"field": f}} for f in STEMMED_FIELDS.values()]}


def _match(word: str, fields: list[str]) -> dict[str, Any]:
    return {"combined_fields": {"query": word, "fields": fields, "operator": "and"}}


def _stemmed(word: str) -> list[dict[str, Any]]:
    return [_match(word, STEMMED_MATCH), {"bool": {"must": [_match(word, ["title^2", "body"])], **_UNMASKED}}]


def text_clauses(query: str | None, *, names: list[str] = (), msm: str | None = None
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The full-text part of a search for ``query``: ``(must, should)`` clause lists of a
    ``bool`` query (both empty for no query or a blank one).

    ``must`` matches every word (with ``msm``, an Elasticsearch ``minimum_should_match``,
    that many of them) in the title or the body: each word either stemmed in
    :data:`STEMMED_MATCH` (``title``/``body`` for a document that lacks those fields: one not
    written by the index stage), or as itself in :data:`EXACT_MATCH`, or — one of its
    :func:`shared.es.bare_forms` (proclitics stripped) — as a tagged name in ``names`` (the
    best of the three scores; a protected name has no bare forms). Each word of ``names``
    (normalized words of ``query``, from :func:`tagged_name_words`) is matched unstemmed only,
    as itself or a bare form, in :data:`EXACT_MATCH`, and is always required. ``should``
    boosts phrase matches on the unstemmed ``.exact`` fields. :func:`build_query`, the event listing (:mod:`shared.event_search`) and the alerts
    (:mod:`shared.alerts`) use the same clauses.
    """
    must: list[dict[str, Any]] = []
    should: list[dict[str, Any]] = []
    if query and query.strip():
        tagged = set(names)
        words: list[dict[str, Any]] = []
        for word in query.split():
            if not any(c.isalnum() for c in word):
                continue  # punctuation: no token, as in a whole-query match
            norm = normalize(word)
            # a protected name is one token in every field; its bare forms are other words (وليد, ليد)
            bare = [] if norm in protected_name_forms() else bare_forms(norm)
            if norm in tagged:
                must.append({"dis_max": {"queries": [_match(f, EXACT_MATCH) for f in (word, *bare)]}})
            else:
                words.append({"dis_max": {"queries": [*_stemmed(word), _match(word, EXACT_MATCH),
                                                      *(_match(f, [NAMES_FIELD]) for f in bare)]}})
        if len(words) == 1 and not msm:
            must.append(words[0])
        elif words:
            must.append({"bool": {"should": words, "minimum_should_match": msm or "100%"}})
        should.append({"multi_match": {"query": query, "fields": ["title.exact^3", "body.exact^1.5"],
                                       "type": "phrase", "boost": 2}})
    return must, should


def long_query_msm(query: str | None) -> str | None:
    """:data:`LONG_QUERY_MSM` for a query of :data:`LONG_QUERY_WORDS` words or more, else None."""
    return LONG_QUERY_MSM if query and len(query.split()) >= LONG_QUERY_WORDS else None


def tagged_name_words(es: Elasticsearch, index: str, query: str | None) -> list[str]:
    """The words of ``query`` (normalized, as written in it) that the stemmer would change,
    that are not protected names, and that the ``names`` field of some article in ``index``
    holds — as written, or one of its :func:`shared.es.bare_forms` that the stemmer would
    cut further (وزمردان, زمردان tagged: its stem زمرد is not the bare form) — a name the
    recognizer tagged. Two ``_analyze`` requests and one count search; Elasticsearch errors
    propagate."""
    if not query or not query.strip():
        return []
    words = [w for w in query.split() if normalize(w)]
    if not words:
        return []
    stemmed = es.indices.analyze(index=index, analyzer=ANALYZER, text=words)["tokens"]
    exact = es.indices.analyze(index=index, analyzer=EXACT_ANALYZER, text=words)["tokens"]
    # one token per word for Arabic words; keep the words whose two analyses differ
    by_pos_stem = {t["position"]: t["token"] for t in stemmed}
    normalized = {normalize(w) for w in words}
    cands = {t["token"]: [t["token"], *(f for f in bare_forms(t["token"]) if f != by_pos_stem[t["position"]])]
             for t in exact if not t["token"].endswith(NAME_MARK)
             and by_pos_stem.get(t["position"]) not in (None, t["token"]) and t["token"] in normalized}
    if not cands:
        return []
    resp = es.search(index=index, size=0, aggs={"names": {"filters": {"filters": {
        w: {"terms": {NAMES_FIELD: forms}} for w, forms in sorted(cands.items())}}}})
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
        # fvh over both analyses (the fields keep term vectors) on the original text (.exact's
        # source; the stemmed fields blank names at the same offsets): a word matched only
        # through ``.exact`` (a name the query keeps whole) is marked as well
        "highlight": {"type": "fvh", "fields": {
            "body.exact": {"fragment_size": 160, "number_of_fragments": 2,
                           "matched_fields": ["body.exact", STEMMED_FIELDS["body"]]},
            "title.exact": {"number_of_fragments": 0, "matched_fields": ["title.exact", STEMMED_FIELDS["title"]]}}},
        "_source": {"excludes": ["body", "signature", "dedup_keys", "entity_keys", NAMES_FIELD,
                                 *STEMMED_FIELDS.values()]},
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
            "highlight": hl.get("body.exact", []) or hl.get("title.exact", []),
            "title_highlight": (hl.get("title.exact") or [None])[0],
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

"""The request bodies of ``hadath events``, ``hadath event ID`` and ``search --group-by-event``
(pure builders of :mod:`shared.event_search` and :func:`shared.search.build_query`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.event_search import (EVENT_FIELDS, build_event_hits_query, build_events_by_ids_query,
                                 build_newest_events_queries, build_timeline_query, event_filters,
                                 event_summary, last_seen, merge_newest, ranked_event_ids)
from shared.search import build_query, parse_entity_filter, text_clauses


def test_event_filters_match_entity_values_topic_last_seen_and_trending():
    label, key = parse_entity_filter("LOC:ببغداد")
    since = datetime(2026, 1, 5, 10, tzinfo=UTC)
    filters = event_filters(entities=[(label, key)], topics=["sport"], since=since, trending=True)
    assert filters[0] == {"term": {"entity_keys.LOC.value": key}}
    assert filters[1] == {"terms": {"topic": ["sport"]}}
    last_seen_clause = filters[2]["bool"]
    assert last_seen_clause["minimum_should_match"] == 1
    dated, undated = last_seen_clause["should"]
    assert dated == {"range": {"last_published_at": {"gte": since.isoformat()}}}
    assert undated["bool"]["must_not"] == [{"exists": {"field": "last_published_at"}}]
    assert undated["bool"]["filter"] == [{"range": {"last_ingested_at": {"gte": since.isoformat()}}}]
    assert filters[3] == {"term": {"trending": True}}
    assert event_filters() == []
    assert event_filters(since=date(2026, 1, 5))[0]["bool"]["should"][0]["range"]["last_published_at"] == \
        {"gte": "2026-01-05"}


def test_event_hits_query_uses_the_search_clauses_and_aggregates_on_event_id():
    body = build_event_hits_query("الأمم المتحدة", buckets=50)
    must, should = text_clauses("الأمم المتحدة")
    assert body["query"]["bool"] == {"must": must, "should": should}
    assert build_query("الأمم المتحدة")["query"]["bool"]["must"] == must  # the same query as hadath search
    assert body["size"] == 0
    agg = body["aggs"]["events"]
    assert agg["terms"] == {"field": "event_id", "size": 50}
    assert agg["aggs"]["best"]["top_hits"]["size"] == 1


def test_ranked_event_ids_orders_by_best_score_then_matches_then_id():
    def bucket(key, count, score):
        return {"key": key, "doc_count": count, "best": {"hits": {"max_score": score, "hits": []}}}

    response = {"aggregations": {"events": {"buckets": [
        bucket("many-but-weak", 9, 1.5), bucket("b", 1, 7.0), bucket("a", 1, 7.0), bucket("strong", 2, 9.25),
        bucket("a2", 3, 7.0)]}}}
    assert ranked_event_ids(response) == [("strong", 9.25, 2), ("a2", 7.0, 3), ("a", 7.0, 1), ("b", 7.0, 1),
                                          ("many-but-weak", 1.5, 9)]
    assert ranked_event_ids({"aggregations": {"events": {"buckets": []}}}) == []


def test_events_by_ids_leaves_out_merged_events_and_applies_filters():
    filters = event_filters(topics=["sport"])
    body = build_events_by_ids_query(["e1", "e2"], filters)
    assert body["size"] == 2
    assert body["query"]["bool"]["filter"] == [{"ids": {"values": ["e1", "e2"]}}, *filters]
    assert body["query"]["bool"]["must_not"] == [{"exists": {"field": "merged_into"}}]
    assert "state" in body["_source"]["excludes"]


def test_newest_events_is_a_dated_and_an_undated_search():
    filters = event_filters(trending=True)
    dated, undated = build_newest_events_queries(filters, 7)
    assert dated["size"] == undated["size"] == 7
    assert dated["sort"][0] == {"last_published_at": {"order": "desc"}}
    assert dated["query"]["bool"]["filter"] == [*filters, {"exists": {"field": "last_published_at"}}]
    assert undated["sort"][0]["last_ingested_at"]["order"] == "desc"
    assert {"exists": {"field": "last_published_at"}} in undated["query"]["bool"]["must_not"]
    for body in (dated, undated):
        assert {"exists": {"field": "merged_into"}} in body["query"]["bool"]["must_not"]


def test_merge_newest_takes_published_else_ingested_and_compares_moments_not_strings():
    dated = [{"event_id": "d1", "last_published_at": "2026-03-01T10:00:00Z", "last_ingested_at": "2026-12-01T00:00:00Z"},
             {"event_id": "d2", "last_published_at": "2026-02-01T10:00:00.500Z"}]
    undated = [{"event_id": "u1", "last_published_at": None, "last_ingested_at": "2026-02-01T10:00:00Z"},
               {"event_id": "u0"}]
    merged = merge_newest(dated, undated, 10)
    # "…00.500Z" < "…00Z" as strings; as moments d2 is the later one
    assert [e["event_id"] for e in merged] == ["d1", "d2", "u1", "u0"]
    assert [e["event_id"] for e in merge_newest(dated, undated, 2)] == ["d1", "d2"]
    assert last_seen(dated[0]) == "2026-03-01T10:00:00Z" and last_seen(undated[0]) == "2026-02-01T10:00:00Z"


def test_timeline_query_sorts_by_published_then_ingested():
    body = build_timeline_query("e9", size=5)
    assert body["query"]["bool"]["filter"] == [{"term": {"event_id": "e9"}}]
    assert [next(iter(s)) for s in body["sort"]] == ["published_at", "ingested_at", "article_id"]
    assert body["sort"][0]["published_at"] == {"order": "asc", "missing": "_last"}
    assert body["size"] == 5 and "source" in body["_source"]["includes"]


def test_group_by_event_collapses_on_event_id():
    grouped = build_query("بغداد", group_by_event=True)
    assert grouped["collapse"] == {"field": "event_id"}
    assert grouped["aggs"]["events"] == {"cardinality": {"field": "event_id"}}
    plain = build_query("بغداد")
    assert "collapse" not in plain and "events" not in plain["aggs"]


def test_event_summary_has_exactly_the_contract_fields():
    doc = {"event_id": "e1", "title": "t", "state": {"x": 1}, "sources": None, "article_count": 3}
    summary = event_summary(doc)
    assert tuple(summary) == EVENT_FIELDS
    assert summary["sources"] == [] and summary["entity_keys"] == {} and summary["places"] == []
    assert summary["summary"] is None and summary["article_count"] == 3


def test_min_articles_filters_on_the_event_size():
    from shared.event_search import event_filters

    assert event_filters(min_articles=1) == []
    assert event_filters(min_articles=2) == [{"range": {"article_count": {"gte": 2}}}]

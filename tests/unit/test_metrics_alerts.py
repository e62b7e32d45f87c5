"""Metrics registration and labels (shared.metrics), the alert queries (shared.alerts) and the
webhook retries (services.index.alerting), without servers."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from services.index.alerting import WebhookNotifier, alert_record
from shared.alerts import (match_actions, match_id, matches_alias, matches_index_template, recent_matches_body,
                           recent_of, alert_document, alert_query, alerts_index_template, alerts_mappings, batch_search_body,
                           has_percolator, matches_of, percolate_body)
from shared.es import mappings
from shared.metrics import StageMetrics, Window, metrics_port, metrics_url, parse_samples
from shared.retry import Backoff
from shared.schemas import AlertMatch
from shared.search import text_clauses
from shared.settings import Settings
from shared.streaming import InMessage, Outcome, StageError, StageRunner


def test_ports_are_base_plus_a_fixed_offset_per_process(tmp_path):
    s = Settings(metrics_port=9400, home=tmp_path)
    ports = {p: metrics_port(s, p) for p in ("ingest", "normalize", "events", "index", "extract", "extract-1", "extract-4")}
    assert ports == {"ingest": 9400, "normalize": 9401, "events": 9402, "index": 9403, "extract": 9410,
                     "extract-1": 9411, "extract-4": 9414}
    assert metrics_port(Settings(metrics_port=0), "index") == 0
    with pytest.raises(ValueError):
        metrics_port(s, "web")
    assert metrics_url(s, "index") == "http://127.0.0.1:9403/metrics"
    run = tmp_path / "run" / s.group_prefix
    run.mkdir(parents=True)
    (run / "index.metrics").write_text("http://127.0.0.1:40001/metrics\n")
    assert metrics_url(s, "index") == "http://127.0.0.1:40001/metrics"


def test_stage_loop_counts_in_out_dead_letters_and_batch_seconds():
    metrics = StageMetrics(CollectorRegistry())

    async def send(topic, key, value):
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def handle(values):
        return [Outcome(error=StageError("schema", "bad")) if v == b"bad" else Outcome(outputs=[(b"k", v), (b"k", v)])
                for v in values]

    runner = StageRunner(stage="normalize", handle=handle, sink="out", deadletter="dlq", send=send,
                         settings=Settings(), metrics=metrics)
    msgs = [InMessage("in", 0, i, None, v) for i, v in enumerate([b"a", b"bad", b"c"])]
    asyncio.run(runner.run_batch(msgs))
    metrics.set_lag("normalize", "in", 0, 7)
    metrics.set_lag("normalize", "in", 1, 5)
    s = parse_samples(generate_latest(metrics.registry).decode())
    assert s[("hadath_messages_in_total", (("stage", "normalize"),))] == 3
    assert s[("hadath_messages_out_total", (("stage", "normalize"),))] == 4
    assert s[("hadath_messages_dead_lettered_total", (("error_type", "schema"), ("stage", "normalize")))] == 1
    assert s[("hadath_batch_seconds_count", (("stage", "normalize"),))] == 1
    assert s[("hadath_consumer_lag_messages", (("partition", "0"), ("stage", "normalize"), ("topic", "in")))] == 7
    assert s[("hadath_messages_in_last_minute", (("stage", "normalize"),))] == 3
    assert s[("hadath_consumer_lag_max_last_minute", (("stage", "normalize"),))] == 12


def test_window_forgets_what_is_older_than_a_minute():
    now = [0.0]
    w = Window(60, clock=lambda: now[0])
    w.add(5)
    now[0] = 30
    w.add(2)
    assert (w.total(), w.peak()) == (7, 5)
    now[0] = 61
    assert (w.total(), w.peak()) == (2, 2)


def test_alert_query_uses_the_search_text_clauses_and_entity_filters():
    q = alert_query("ميناء البصرة", [("LOC", "بغداد")])
    assert q["bool"]["filter"] == [{"term": {"entity_keys.LOC": "بغداد"}}]
    assert q["bool"]["must"] == text_clauses("ميناء البصرة", names=[])[0]  # the search's clauses
    words = q["bool"]["must"][0]["bool"]
    assert words["minimum_should_match"] == "100%" and len(words["should"]) == 2  # every word
    assert alert_query(None, [("PERS", "x")])["bool"]["must"] == [{"match_all": {}}]
    with pytest.raises(ValueError):
        alert_query("  ", [])
    doc = alert_document("a", "ميناء", ["LOC:بغداد"], "https://example.org/h")
    assert doc["alert"]["entities"] == ["LOC:بغداد"] and doc["alert"]["webhook"] == "https://example.org/h"
    for bad in ({"name": ""}, {"webhook": "ftp://x"}, {"entity_specs": ["CITY:x"]}):
        with pytest.raises(ValueError):
            alert_document(**({"name": "a", "query": "q"} | bad))


def test_alerts_index_has_the_article_fields_and_a_pattern_of_its_own():
    m = alerts_mappings()
    assert m["properties"]["query"] == {"type": "percolator"}
    assert set(mappings()["properties"]) < set(m["properties"])
    assert alerts_mappings(percolator=False)["properties"]["query"]["enabled"] is False
    t = alerts_index_template(Settings())
    assert t["index_patterns"] == ["hadath-alerts-*"] and t["priority"] > 200
    with pytest.raises(ValueError):
        alerts_index_template(Settings(alerts_alias="hadath-articles-alerts"))


def test_kept_matches_have_deterministic_ids_and_an_index_of_their_own():
    settings = Settings()
    assert matches_alias(settings) == "hadath-alerts.matches"
    t = matches_index_template(settings)
    # outside the percolator template's pattern (hadath-alerts-*), so never a percolator index
    assert t["index_patterns"] == ["hadath-alerts.matches-*"]
    assert set(t["template"]["mappings"]["properties"]) >= set(AlertMatch.model_fields)
    record = alert_record("ports", {"article_id": "a1", "event_id": "e1", "title": "t", "source": "s"}).model_dump(mode="json")
    again = alert_record("ports", {"article_id": "a1"}).model_dump(mode="json")
    (first,), (second,) = match_actions([record], "m"), match_actions([again], "m")
    assert first["_id"] == second["_id"] == match_id("ports", "a1") and first["_op_type"] == "create"
    assert match_id("ports", "a1") != match_id("ports", "a2") != match_id("ships", "a1")
    assert first["_source"] == record and first["_index"] == "m"


def test_recent_matches_are_read_per_alert_newest_first():
    body = recent_matches_body(["ports", "ships"], per_alert=3)
    assert body["query"] == {"terms": {"alert": ["ports", "ships"]}}
    assert body["aggs"]["by_alert"]["aggs"]["recent"]["top_hits"] == {"size": 3, "sort": [{"matched_at": "desc"}]}
    resp = {"aggregations": {"by_alert": {"buckets": [
        {"key": "ports", "doc_count": 5, "recent": {"hits": {"hits": [{"_source": {"article_id": "a2"}},
                                                                      {"_source": {"article_id": "a1"}}]}}}]}}}
    assert recent_of(resp) == {"ports": {"total": 5, "matches": [{"article_id": "a2"}, {"article_id": "a1"}]}}
    assert recent_of({}) == {}


def test_percolate_body_and_its_matches():
    body = percolate_body([{"article_id": "a"}, {"article_id": "b"}])
    assert body["query"]["percolate"]["documents"][1] == {"article_id": "b"}
    resp = {"hits": {"hits": [{"_id": "x", "_source": {"alert": {"name": "x", "webhook": "http://h"}},
                               "fields": {"_percolator_document_slot": [1, 0]}},
                              {"_id": "y", "_source": {"alert": {"name": "y"}}}]}}
    assert matches_of(resp) == [(0, "x", "http://h"), (0, "y", None), (1, "x", "http://h")]
    assert has_percolator({"i": {"mappings": {"properties": {"query": {"type": "percolator"}}}}})
    assert not has_percolator({"i": {"mappings": {"properties": {"query": {"type": "object"}}}}})
    assert batch_search_body({"match_all": {}}, ["a"])["query"]["bool"]["filter"] == [{"ids": {"values": ["a"]}}]


def test_webhook_is_retried_with_backoff_and_given_up_on_a_4xx():
    answers = {"http://retry": [OSError("refused"), 503, 200], "http://bad": [404, 200]}
    calls: list[str] = []
    waits: list[float] = []

    async def post(url, body):
        calls.append(url)
        answer = answers[url].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(seconds):
        waits.append(seconds)

    async def run():
        n = WebhookNotifier(attempts=5, backoff=Backoff(1, 30), sleep=sleep, post=post,
                            metrics=StageMetrics(CollectorRegistry()))
        rec = alert_record("a", {"article_id": "x", "title": "t", "source": "s", "event_id": "e"})
        assert n.submit("http://retry", rec) and n.submit("http://bad", rec)
        await n.join()
        return parse_samples(generate_latest(n.metrics.registry).decode())

    s = asyncio.run(run())
    assert calls.count("http://retry") == 3 and calls.count("http://bad") == 1
    assert sorted(waits) == [1, 2]
    assert s[("hadath_webhook_deliveries_total", (("result", "ok"),))] == 1
    assert s[("hadath_webhook_deliveries_total", (("result", "failed"),))] == 1

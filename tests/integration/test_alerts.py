"""Alerts end to end (issue #13, part 5) and the services' metrics (part 4), on the real Kafka
and Elasticsearch: saved alerts, matching and non-matching made-up Arabic articles, the
records of ``articles.alerts`` (with the test's prefix) and the matches kept for the page, a
webhook, and each running service's ``metrics_url`` (serving every series the shipped Grafana
dashboard queries)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from kafka import KafkaConsumer

from hadath import processes
from shared.alerts import add_alert, list_alerts, match_id, matches_alias, recent_matches, remove_alert
from shared.metrics import parse_samples
from shared.schemas import AlertMatch
from tests.dashboard import dashboard_exprs, exposed, missing, referenced
from tests.integration.conftest import jsonl_bytes

PORT_STORY = {"id": "m1", "source": "wakala", "title": "افتتاح ميناء جديد في البصرة",
              "body": "افتتح وزير النقل اليوم ميناء جديدا في محافظة البصرة جنوب العراق بحضور مسؤولين محليين، "
                      "وقال إن الميناء سيستقبل السفن التجارية الكبيرة اعتبارا من الشهر المقبل."}
FOOTBALL_STORY = {"id": "n1", "source": "wakala", "title": "تعادل في مباراة الدوري",
                  "body": "انتهت مباراة الفريقين في الدوري الممتاز بالتعادل السلبي بعد مباراة شهدت فرصا كثيرة "
                          "للطرفين، وسيلتقي الفائز في الجولة المقبلة مع متصدر الترتيب."}
SECOND_PORT_STORY = {"id": "m2", "source": "sahifa", "title": "السفن تصل إلى الميناء",
                     "body": "وصلت أول السفن التجارية إلى الميناء الجديد، وأكد مدير الميناء أن العمل "
                             "يسير وفق الخطة المرسومة منذ شهور."}


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_first = [True]

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.fail_first[0]:  # the first POST fails: it must be retried
            self.fail_first[0] = False
            self.send_response(503)
        else:
            self.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # noqa: ANN002 - quiet
        pass


def read_alerts(pipe, expected: int, timeout_seconds: float = 60) -> list[AlertMatch]:
    consumer = KafkaConsumer(pipe.topics.alerts, bootstrap_servers=pipe.settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=2000, group_id=None)
    got: list[AlertMatch] = []
    deadline = time.monotonic() + timeout_seconds
    try:
        while len(got) < expected and time.monotonic() < deadline:
            got += [AlertMatch.model_validate_json(m.value) for m in consumer]
        time.sleep(3)  # nothing more may arrive
        got += [AlertMatch.model_validate_json(m.value) for m in consumer]
        return got
    finally:
        consumer.close()


def test_alerts_fire_exactly_for_matching_articles_and_metrics_answer(make_pipeline):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_port}/hook"
    pipe = make_pipeline(alerts_webhook_attempts=4)
    es, settings = pipe.es, pipe.settings
    add_alert(es, settings, "ports", "ميناء البصرة", webhook=hook)
    add_alert(es, settings, "ships", "السفن التجارية")
    add_alert(es, settings, "gone", "مباراة")
    assert remove_alert(es, settings, "gone")
    assert [a["name"] for a in list_alerts(es, settings)] == ["ports", "ships"]
    time.sleep(2.5)  # the index stage's alert cache

    pipe.send_raw(*jsonl_bytes(PORT_STORY, FOOTBALL_STORY, SECOND_PORT_STORY))
    pipe.wait()
    by_id = {d["article_id"]: d for d in pipe.docs()}
    assert len(by_id) == 3

    got = read_alerts(pipe, expected=3)
    pairs = sorted((m.alert, by_id[m.article_id]["title"]) for m in got)
    assert pairs == sorted([("ports", PORT_STORY["title"]), ("ships", PORT_STORY["title"]),
                            ("ships", SECOND_PORT_STORY["title"])]), pairs
    for m in got:
        doc = by_id[m.article_id]
        assert (m.event_id, m.source, m.title) == (doc["event_id"], doc["source"], doc["title"])

    # each match is kept once, under its deterministic id, for the page
    es.indices.refresh(index=matches_alias(settings))
    kept = es.search(index=matches_alias(settings), size=100, query={"match_all": {}})["hits"]["hits"]
    assert sorted(h["_id"] for h in kept) == sorted(match_id(m.alert, m.article_id) for m in got)
    recent = recent_matches(es, settings, ["ports", "ships"])
    assert (recent["ports"]["total"], recent["ships"]["total"]) == (1, 2)
    assert {m["title"] for m in recent["ships"]["matches"]} == {PORT_STORY["title"], SECOND_PORT_STORY["title"]}

    deadline = time.monotonic() + 30  # 503 once, then retried after the backoff's first second
    while not _Hook.received and time.monotonic() < deadline:
        time.sleep(0.5)
    server.shutdown()
    assert [r["alert"] for r in _Hook.received] == ["ports"]
    assert _Hook.received[0]["title"] == PORT_STORY["title"]

    # every running service answers on its metrics_url with the stage counters
    st = processes.status(settings)
    assert set(st) == {"ingest", "normalize", "extract-1", "events", "index"}
    pages = []
    for name, proc in st.items():
        assert proc["running"] and proc["metrics_url"].startswith("http://127.0.0.1:"), (name, proc)
        with urllib.request.urlopen(proc["metrics_url"], timeout=5) as resp:
            pages.append(resp.read().decode())
        samples = parse_samples(pages[-1])
        stage = name.split("-")[0]
        assert samples[("hadath_messages_in_total", (("stage", stage),))] >= 3, name
        assert ("hadath_batch_seconds_count", (("stage", stage),)) in samples, name
        assert samples[("process_resident_memory_bytes", ())] > 0
        assert samples[("hadath_messages_in_last_minute", (("stage", stage),))] >= 3
    # every series the shipped Grafana dashboard queries is served, with the labels it groups by
    assert missing(referenced(dashboard_exprs()), exposed(*pages)) == []
    index = parse_samples(urllib.request.urlopen(st["index"]["metrics_url"], timeout=5).read().decode())
    assert index[("hadath_messages_out_total", (("stage", "index"),))] == 3
    assert index[("hadath_alerts_matched_total", (("alert", "ships"),))] == 2
    assert index[("hadath_webhook_deliveries_total", (("result", "ok"),))] == 1
    activity = processes.recent_activity(settings)
    assert activity["index"]["in_last_minute"] == 3 and activity["extract"]["processes"] == 1

    # removing an alert removes its kept matches
    assert remove_alert(es, settings, "ships")
    assert set(recent_matches(es, settings, ["ports", "ships"])) == {"ports"}

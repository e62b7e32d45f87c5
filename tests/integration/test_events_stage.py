"""The events stage on the real Kafka and Elasticsearch: every article gets an event, event
documents stay consistent with the article documents through replays, a crash and a standby."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter

from kafka import KafkaAdminClient

from hadath import processes
from shared.metrics import metrics_url
from shared.settings import settings_env
from tests.conftest import REPO
from tests.integration.conftest import jsonl_bytes, sample_articles, sample_variants

def _samples() -> list[dict]:
    return sample_articles()


def _variants(n: int) -> list[dict]:
    """``n`` distinct articles from the samples (each its own url and a line of its own)."""
    return sample_variants(n, "events")


def _assert_consistent(pipe, n_articles: int) -> dict[str, str]:
    """Every article document has an event; each live event's ``article_count`` and
    ``article_ids`` are exactly the article documents carrying its id; returns article → event."""
    docs = pipe.docs()
    assert len(docs) == n_articles
    assert all(d.get("event_id") for d in docs), [d["_id"] for d in docs if not d.get("event_id")]
    by_event = Counter(d["event_id"] for d in docs)
    events = {e["event_id"]: e for e in pipe.events()}
    assert set(by_event) == set(events), (set(by_event) ^ set(events))
    for event_id, n in by_event.items():
        e = events[event_id]
        assert e["article_count"] == n
        assert sorted(e["article_ids"]) == sorted(d["_id"] for d in docs if d["event_id"] == event_id)
        assert e["source_count"] == len({d["source"] for d in docs if d["event_id"] == event_id})
    return {d["_id"]: d["event_id"] for d in docs}


def test_the_samples_get_events_and_a_replay_changes_nothing(make_pipeline):
    pipe = make_pipeline()
    samples = _samples()
    pipe.send_raw(*jsonl_bytes(*samples))
    pipe.wait()
    first = _assert_consistent(pipe, len(samples))
    docs = {d["title"]: d for d in pipe.docs()}
    # the same flood reported by two outlets on the same day is one event of two outlets
    a = docs["سيول تغمر أحياء في الخرطوم وتشرد آلاف الأسر"]
    b = docs["سيول جارفة تغمر أحياء في الخرطوم وتشرد آلاف الأسر"]
    assert a["event_id"] == b["event_id"]
    event = next(e for e in pipe.events() if e["event_id"] == a["event_id"])
    assert event["source_count"] == 2 and sorted(event["sources"]) == ["gulf-wire", "maghreb-news"]
    assert event["title"] in (a["title"], b["title"]) and event["summary"]
    assert event["first_published_at"].startswith("2025-08-19") and event["event_date"] == "2025-08-19"
    assert any(p["name"] == "الخرطوم" and p["location"] for p in event["places"])
    # every article document has one of the six topics; the event's topic is one of its articles'
    topics = {"internationalNews", "middleEast", "sport", "economy", "technology", "culture"}
    assert all(d.get("topic") in topics for d in docs.values())
    assert event["topic"] in {a["topic"], b["topic"]}
    # a different incident in another country and year is never in that event
    other = docs["زلزال بقوة 5.6 درجات يضرب إقليم الحسيمة شمال المغرب"]
    assert other["event_id"] != a["event_id"]

    n_events = len(pipe.events())
    pipe.send_raw(*jsonl_bytes(*samples))  # the same stream again
    pipe.wait()
    assert _assert_consistent(pipe, len(samples)) == first
    assert len(pipe.events()) == n_events
    assert pipe.dead_letters() == []


def test_killing_the_events_worker_mid_stream_loses_and_double_counts_nothing(make_pipeline):
    pipe = make_pipeline()
    articles = _variants(160)
    pipe.send_raw(*jsonl_bytes(*articles[:80]))
    time.sleep(2.0)
    pid = processes.status(pipe.settings)["events"]["pid"]
    os.kill(pid, signal.SIGKILL)  # a crash: no clean shutdown, no commit
    pipe.send_raw(*jsonl_bytes(*articles[80:]))
    processes.up(pipe.settings, progress=lambda *_: None)  # restarts only what is down
    pipe.wait()
    _assert_consistent(pipe, len(articles))
    assert pipe.dead_letters() == []


def _events_consumed(url: str) -> float:
    """``hadath_messages_in_total{stage="events"}`` read from one process's ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == "hadath_messages_in_total" and s.labels.get("stage") == "events")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_second_events_worker_is_a_standby_and_takes_over(make_pipeline):
    pipe = make_pipeline()
    first_url = metrics_url(pipe.settings, "events")  # read before the standby writes its own
    assert first_url
    standby_port = _free_port()
    env = {**os.environ, **settings_env(pipe.settings), "HADATH_METRICS_PORT": str(standby_port - 2)}
    log = (pipe.settings.home / "logs" / pipe.settings.group_prefix / "events-standby.log").open("ab")
    standby = subprocess.Popen([sys.executable, "-m", "services.events"], cwd=REPO, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    standby_url = f"http://127.0.0.1:{standby_port}/metrics"
    try:
        group = pipe.settings.group_id("events")
        # Two members are listed before the group's assignment is done (both assignments are
        # empty while it completes the rebalance): wait for the group to be stable with both.
        deadline = time.monotonic() + 120
        while True:
            admin = KafkaAdminClient(bootstrap_servers=pipe.settings.kafka_bootstrap)
            try:
                described = admin.describe_groups([group])[group]
            finally:
                admin.close()
            members = described["members"]
            # a member without partitions has an empty assignment (kafka-python gives it as text)
            owners = [m for m in members if isinstance(m["member_assignment"], dict)
                      for t in m["member_assignment"]["assigned_partitions"]
                      if t["topic"] == pipe.topics.enriched and t["partitions"]]
            if (len(members) == 2 and described.get("group_state") == "Stable" and owners) or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert len(members) == 2, described
        assert len(owners) == 1, described  # one partition: one writer
        articles = _variants(60)
        pipe.send_raw(*jsonl_bytes(*articles[:30]))
        pipe.wait(timeout_seconds=240)
        # the worker that consumed the first half is the owner: it is the one killed
        consumed = {"first": _events_consumed(first_url), "standby": _events_consumed(standby_url)}
        assert sorted(consumed.values())[0] == 0 and sorted(consumed.values())[1] >= 30, consumed
        owner = max(consumed, key=consumed.get)
        survivor_url = standby_url if owner == "first" else first_url
        os.kill(processes.status(pipe.settings)["events"]["pid"] if owner == "first" else standby.pid,
                signal.SIGKILL)
        pipe.send_raw(*jsonl_bytes(*articles[30:]))
        pipe.wait(timeout_seconds=240)
        assert _events_consumed(survivor_url) >= 30  # the other worker took the partition over
        _assert_consistent(pipe, len(articles))
    finally:
        standby.terminate()
        standby.wait(timeout=60)


def test_a_replay_after_dying_between_the_event_write_and_the_delivery_sends_the_lost_reassignment(infrastructure):
    """The events stage on the real Elasticsearch: a batch moves an earlier undated page to its
    own story and writes the event documents, then its worker dies before the outputs are
    delivered. The next owner replays the batch: the article is already in its event, and the
    reassignment is sent again from the outbox in the event's document; the next batch empties it."""
    import asyncio
    import json
    from datetime import timedelta

    from hadath.sandbox import cleanup, isolated_settings
    from services.events.app import EventsStage
    from shared.es import client, ensure_index
    from tests.unit.test_events_cluster import LATER_TITLE, STRIKE, STRIKE_LATER
    from tests.unit.test_events_stage import FLOOD, T0, article

    settings = isolated_settings()
    ensure_index(client(settings), settings)
    first = article("a1", STRIKE, source="outlet-one", title="قصف مقر كتائب النصر في الحلة")
    page = article("u1", STRIKE_LATER, source="outlet-four", title=LATER_TITLE).model_copy(
        update={"published_at": None, "ingested_at": T0 + timedelta(days=12)})
    later = article("b1", STRIKE_LATER, source="outlet-three", title=LATER_TITLE, hours=96)
    other = article("f1", FLOOD, source="outlet-two", hours=97)

    def reassignments(outcomes) -> list[dict]:
        values = [json.loads(v) for o in outcomes for _, v in o.outputs]
        return [v for v in values if "merged_from" in v]

    async def scenario() -> tuple[list[dict], list[dict], dict]:
        dying = EventsStage(settings)
        try:
            for a in (first, page):
                assert reassignments(await dying.handle([a.model_dump_json().encode()])) == []
            lost = reassignments(await dying.handle([later.model_dump_json().encode()]))
        finally:  # ... and its outputs are never delivered
            await dying.indexer.es.close()
        owner = EventsStage(settings)
        try:
            again = reassignments(await owner.handle([later.model_dump_json().encode()]))
            await owner.handle([other.model_dump_json().encode()])  # the replay was delivered
            await owner.indexer.es.indices.refresh(index=settings.events_alias)
            doc = await owner.indexer.es.get(index=settings.events_alias, id=lost[0]["event_id"])
        finally:
            await owner.indexer.es.close()
        return lost, again, doc["_source"]

    try:
        lost, again, doc = asyncio.run(scenario())
        assert [(r["article_id"], r["merged_from"]) for r in lost] == [("u1", lost[0]["merged_from"])]
        assert again == lost  # the same reassignment, sent by the replay
        assert sorted(doc["article_ids"]) == ["b1", "u1"] and "outbox" not in doc["state"]
    finally:
        cleanup(settings)

"""``hadath deadletters replay`` on the real Kafka and Elasticsearch (issue #8, item 7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from services.extract.app import make_handler as extract_handler
from services.extract.extract import Extractor
from services.ingest.app import make_handler as ingest_handler
from services.normalize.app import handle as normalize_handle
from hadath.kafka_admin import pipeline_status
from hadath.replay import REPLAY_HEADER
from shared.schemas import DeadLetter
from shared.settings import Settings, settings_env
from shared.topics import Topics
from tests.integration.conftest import jsonl_bytes

pytestmark = pytest.mark.integration

HADATH = Path(sys.executable).parent / "hadath"
LOST = {"source": "replay-test", "title": "ميناء جديد في البصرة",
        "body": "افتتح وزير النقل ميناء جديدا في البصرة اليوم بعد سنوات من العمل على المشروع."}
GOOD = {"source": "replay-test", "title": "اجتماع في الموصل",
        "body": "عقد مجلس محافظة نينوى اجتماعا في الموصل اليوم لبحث إعادة الإعمار."}


def hadath(settings: Settings, *args: str) -> str:
    """Run the console script with ``settings`` in its environment; its stdout (exit 0 asserted)."""
    env = {**os.environ, **settings_env(settings), "COLUMNS": "250"}
    done = subprocess.run([str(HADATH), *args], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def enriched(article: dict) -> tuple[bytes, bytes]:
    """``(key, value)`` of ``article`` as extract would send it to articles.enriched (in-process);
    the index takes it as it is (an enriched article without ``event_id``, as before events)."""
    (ingested,) = ingest_handler(Settings())([json.dumps(article, ensure_ascii=False).encode()])
    (normalized,) = normalize_handle([ingested.outputs[0][1]])
    (out,) = extract_handler(Extractor("gazetteer"))([normalized.outputs[0][1]])
    return out.outputs[0]


def send_dead_letter(settings: Settings, topic: str, record: DeadLetter) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    producer.send(topic, key=record.key.encode() if record.key else None, value=record.model_dump_json().encode())
    producer.flush()
    producer.close()


def end_offsets(settings: Settings) -> dict[str, int]:
    return {name: t["end_offset"] for name, t in pipeline_status(settings)["topics"].items()}


def hits(pipe, article_id: str) -> int:
    pipe.es.indices.refresh(index=pipe.settings.index_alias)
    return pipe.es.count(index=pipe.settings.index_alias, query={"ids": {"values": [article_id]}})["count"]


@pytest.fixture
def pipeline_with_dead_letters(make_pipeline):
    """A pipeline holding one good document and two dead letters: an ingest ``schema`` failure
    (a raw message without ``body``) and, written by hand, an ``index_rejected`` one whose payload
    is a valid enriched article (as when Elasticsearch refused it and was fixed since).
    Returns ``(pipe, lost_article_id)``."""
    pipe = make_pipeline()
    pipe.send_raw(*jsonl_bytes({"source": "replay-test", "title": "بلا نص"}, GOOD))
    pipe.wait()
    assert [d.stage for d in pipe.dead_letters(expected=1)] == ["ingest"]
    key, value = enriched(LOST)
    send_dead_letter(pipe.settings, pipe.topics.deadletter, DeadLetter(
        stage="index", error_type="index_rejected", error_message="Elasticsearch refused the document: test",
        topic=pipe.topics.clustered, partition=0, offset=12345, key=key.decode(), payload=value.decode(),
        failed_at=datetime.now(UTC)))
    assert len(pipe.dead_letters(expected=2)) == 2
    assert pipe.count() == 1
    return pipe, key.decode()


def test_replay_indexes_a_fixed_index_dead_letter_exactly_once(pipeline_with_dead_letters):
    pipe, lost_id = pipeline_with_dead_letters
    before = end_offsets(pipe.settings)

    dry = hadath(pipe.settings, "deadletters", "replay", "--stage", "index", "--dry-run")
    assert f"would replay 1 index → {pipe.topics.clustered}" in dry and "dry run: nothing sent" in dry
    assert f"{pipe.topics.clustered}/0/12345" in dry
    assert end_offsets(pipe.settings) == before
    assert hits(pipe, lost_id) == 0

    for attempt in (1, 2):  # replaying twice still gives one document
        real = hadath(pipe.settings, "deadletters", "replay", "--stage", "index")
        assert f"replayed 1 index → {pipe.topics.clustered}" in real and "ingest" not in real
        pipe.wait()
        assert hits(pipe, lost_id) == 1, attempt
        assert pipe.count() == 2, attempt
        assert pipe.search("البصرة")["total"] == 1
    after = end_offsets(pipe.settings)
    assert after[pipe.topics.clustered] == before[pipe.topics.clustered] + 2
    assert after[pipe.topics.raw] == before[pipe.topics.raw]          # the ingest dead letter stayed put
    assert after[pipe.topics.deadletter] == before[pipe.topics.deadletter]  # nothing failed again

    consumer = KafkaConsumer(pipe.topics.clustered, bootstrap_servers=pipe.settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=3000)
    marks = [dict(m.headers).get(REPLAY_HEADER) for m in consumer if m.key == lost_id.encode()]
    consumer.close()
    assert marks == [f"{pipe.topics.clustered}/0/12345".encode()] * 2


def test_dry_run_filters_by_error_type_and_since(pipeline_with_dead_letters):
    pipe, _ = pipeline_with_dead_letters
    before = end_offsets(pipe.settings)

    schema = hadath(pipe.settings, "deadletters", "replay", "--error-type", "schema", "--dry-run")
    assert f"would replay 1 ingest → {pipe.topics.raw}" in schema and "index →" not in schema
    both = hadath(pipe.settings, "deadletters", "replay", "--error-type", "schema",
                  "--error-type", "index_rejected", "--since", "1h", "--dry-run")
    assert f"would replay 1 ingest → {pipe.topics.raw}" in both
    assert f"would replay 1 index → {pipe.topics.clustered}" in both
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    none = hadath(pipe.settings, "deadletters", "replay", "--since", later, "--dry-run")
    assert "would replay 0 of 2 dead letters" in none
    listed = [DeadLetter.model_validate_json(line) for line in hadath(pipe.settings, "deadletters", "--json").splitlines()]
    assert sorted(d.error_type for d in listed) == ["index_rejected", "schema"]
    assert end_offsets(pipe.settings) == before


def test_an_empty_or_missing_dead_letter_topic_is_read_at_once(infrastructure):
    import time

    from kafka import KafkaAdminClient

    from hadath.kafka_admin import ensure_topics, read_dead_letter_values
    from hadath.sandbox import isolated_settings

    settings = isolated_settings()
    started = time.monotonic()
    assert read_dead_letter_values(settings, timeout_seconds=5) == []  # no topic at all
    ensure_topics(settings)
    try:
        assert read_dead_letter_values(settings, timeout_seconds=5) == []  # topic, no records
        assert "would replay 0 of 0 dead letters" in hadath(settings, "deadletters", "replay", "--dry-run")
    finally:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        admin.delete_topics(list(Topics.from_settings(settings).all()))
        admin.close()
    assert time.monotonic() - started < 20

"""An isolated pipeline on the real Kafka and Elasticsearch: its own topics (a unique
``HADATH_TOPIC_PREFIX``), consumer groups (``HADATH_GROUP_PREFIX``) and index
(``HADATH_INDEX_ALIAS``), with the four services running as real processes. Used by the
integration tests and the benchmarks; removed whole by :func:`cleanup`.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from shared import limits
from shared.alerts import matches_alias
from hadath import processes
from shared.es import client, ensure_index
from hadath.feed import FeedReport, feed
from hadath.kafka_admin import SERVICES, wait_until_idle
from shared.schemas import DeadLetter
from shared.search import search
from shared.settings import Settings
from shared.topics import Topics


@dataclass
class Pipeline:
    """A running, isolated pipeline: its settings and helpers to feed, wait and look."""

    settings: Settings

    @property
    def topics(self) -> Topics:
        return Topics.from_settings(self.settings)

    def feed(self, *paths: Path, source: str | None = None) -> FeedReport:
        return feed(list(paths), self.settings, source=source)

    def send_raw(self, *values: bytes) -> None:
        """Send raw bytes to ``articles.raw`` as a producer would (no checks)."""
        producer = KafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all",
                                 max_request_size=limits.producer_max_request_bytes(self.settings))
        for v in values:
            producer.send(self.topics.raw, value=v)
        producer.flush()
        producer.close()

    def wait(self, timeout_seconds: float = 300) -> None:
        wait_until_idle(self.settings, timeout_seconds=timeout_seconds, poll_seconds=1.0)
        self.es.indices.refresh(index=self.settings.index_alias)
        if self.es.indices.exists_alias(name=self.settings.events_alias):
            self.es.indices.refresh(index=self.settings.events_alias)

    @property
    def es(self):
        return client(self.settings)

    def count(self) -> int:
        return self.es.count(index=self.settings.index_alias)["count"]

    def docs(self) -> list[dict]:
        resp = self.es.search(index=self.settings.index_alias, size=10_000, query={"match_all": {}})
        return [h["_source"] | {"_id": h["_id"]} for h in resp["hits"]["hits"]]

    def events(self, *, merged: bool = False) -> list[dict]:
        """Every event document (``_source`` + ``_id``); merged records only with ``merged``."""
        from elasticsearch import helpers

        query = {"match_all": {}} if merged else {"bool": {"must_not": [{"exists": {"field": "merged_into"}}]}}
        return [h["_source"] | {"_id": h["_id"]} for h in helpers.scan(
            self.es, index=self.settings.events_alias, query={"query": query},
            _source_excludes=["state", "cand_names", "cand_terms"])]

    def search(self, query: str | None, **kwargs) -> dict:
        return search(self.es, self.settings, query, **kwargs)

    def dead_letters(self, expected: int = 0, timeout_seconds: float = 30) -> list[DeadLetter]:
        """Every record of the dead-letter topic (waits until at least ``expected`` arrived)."""
        consumer = KafkaConsumer(self.topics.deadletter, bootstrap_servers=self.settings.kafka_bootstrap,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 consumer_timeout_ms=3000, group_id=None)
        got: list[DeadLetter] = []
        deadline = time.monotonic() + timeout_seconds
        try:
            while True:
                for msg in consumer:
                    got.append(DeadLetter.model_validate_json(msg.value))
                if len(got) >= expected or time.monotonic() > deadline:
                    return got
        finally:
            consumer.close()


def isolated_settings() -> Settings:
    """Default settings with a unique topic prefix, group prefix and index aliases."""
    tag = "t" + uuid.uuid4().hex[:8]
    base = Settings()
    # metrics port 0: each service serves on a free port (shown in processes.status)
    return base.model_copy(update={"topic_prefix": f"{tag}.", "group_prefix": f"hadath-{tag}",
                                   "index_alias": f"hadath-{tag}-articles",
                                   "events_alias": f"hadath-{tag}-events",
                                   "alerts_alias": f"hadath-{tag}-alerts", "metrics_port": 0})


def cleanup(settings: Settings) -> None:
    """Stop the services of ``settings`` and delete its topics, groups, index, template and its
    run, log and Faust folders under ``HADATH_HOME``."""
    processes.down(settings, progress=lambda *_: None)
    for folder in (settings.home / "run" / settings.group_prefix, settings.home / "logs" / settings.group_prefix,
                   *(settings.home / "faust" / settings.group_id(s) for s in SERVICES)):
        shutil.rmtree(folder, ignore_errors=True)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        existing = set(admin.list_topics())
        mine = [t for t in existing if t.startswith(settings.topic_prefix) or t.startswith(settings.group_prefix)]
        if mine:
            admin.delete_topics(mine)
        try:
            admin.delete_groups([settings.group_id(s) for s in SERVICES])
        except Exception:  # noqa: BLE001 - best effort
            pass
    finally:
        admin.close()
    es = client(settings)
    for alias in (settings.index_alias, settings.events_alias, settings.alerts_alias, matches_alias(settings)):
        if es.indices.exists_alias(name=alias):
            for index in es.indices.get_alias(name=alias):
                es.options(ignore_status=404).indices.delete(index=index)
        es.options(ignore_status=404).indices.delete_index_template(name=alias)


def start(extract_workers: int = 1, **overrides) -> Pipeline:
    """Isolated settings (``overrides`` applied), index and topics created, services started."""
    settings = isolated_settings().model_copy(update=overrides)
    ensure_index(client(settings), settings)
    try:
        processes.up(settings, extract_workers=extract_workers, progress=lambda *_: None)
    except Exception:
        cleanup(settings)
        raise
    return Pipeline(settings)

"""Kafka administration with kafka-python: topic creation, end offsets and consumer-group lag."""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from shared import limits
from shared.settings import Settings
from shared.topics import Topics

SERVICES = ("ingest", "normalize", "extract", "index")

# kafka-python warns on every describe of a Faust group (it cannot decode Faust's member
# metadata); the member count we need is unaffected.
logging.getLogger("kafka.admin._groups").setLevel(logging.ERROR)


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="hadath-admin",
                            request_timeout_ms=30_000)


def ensure_topics(settings: Settings) -> list[str]:
    """Create the pipeline topics (``settings.topic_partitions`` partitions, replication 1)
    with the size limits and compression of :mod:`shared.limits`.

    Existing topics keep their partitions; their ``max.message.bytes`` and
    ``compression.type`` are set to the current limits (so an installation created with
    smaller limits takes records as large as every later stage may now write). Returns the
    names created now.
    """
    topics = Topics.from_settings(settings)
    admin = _admin(settings)
    try:
        existing = set(admin.list_topics())
        configs = {t: limits.topic_configs(settings, deadletter=t == topics.deadletter) for t in topics.all()}
        created = []
        for name in topics.all():
            if name in existing:
                continue
            try:
                admin.create_topics([NewTopic(name=name, num_partitions=settings.topic_partitions,
                                              replication_factor=1, topic_configs=configs[name])])
                created.append(name)
            except TopicAlreadyExistsError:
                existing.add(name)
        old = [t for t in topics.all() if t in existing]
        if old:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t, configs=configs[t]) for t in old],
                                incremental=True)
        return created
    finally:
        admin.close()


def input_topic(topics: Topics, service: str) -> str:
    """The topic ``service`` consumes."""
    return {"ingest": topics.raw, "normalize": topics.ingested, "extract": topics.normalized,
            "index": topics.enriched}[service]


def group_members(admin: KafkaAdminClient, groups: list[str]) -> dict[str, int]:
    """Members of each consumer group that is ``Stable`` (0 while it rebalances or is empty)."""
    try:
        described = admin.describe_groups(groups)
    except Exception:  # noqa: BLE001 - the group coordinator may not be ready yet
        return {}
    return {g: (len(d.get("members") or []) if d.get("group_state") == "Stable" else 0)
            for g, d in described.items()}


def pipeline_status(settings: Settings) -> dict[str, Any]:
    """Per topic: partitions and summed end offset; per service: committed offsets and lag.

    Shape: ``{"topics": {name: {"partitions": int, "end_offset": int}}, "groups": {service:
    {"group": str, "topic": str, "committed": int, "lag": int, "members": int}}}``.
    """
    topics = Topics.from_settings(settings)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                             request_timeout_ms=30_000)
    admin = _admin(settings)
    try:
        out: dict[str, Any] = {"topics": {}, "groups": {}}
        ends: dict[TopicPartition, int] = {}
        for name in topics.all():
            parts = consumer.partitions_for_topic(name) or set()
            tps = [TopicPartition(name, p) for p in sorted(parts)]
            end = consumer.end_offsets(tps) if tps else {}
            ends.update(end)
            out["topics"][name] = {"partitions": len(tps), "end_offset": sum(end.values())}
        groups = [settings.group_id(s) for s in SERVICES]
        described = group_members(admin, groups)
        all_committed = admin.list_group_offsets(groups)
        for service in SERVICES:
            group, topic = settings.group_id(service), input_topic(topics, service)
            committed_offsets = all_committed.get(group) or {}
            committed = lag = 0
            for tp, end in ends.items():
                if tp.topic != topic:
                    continue
                meta = committed_offsets.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                committed += done
                lag += max(end - done, 0)
            out["groups"][service] = {"group": group, "topic": topic, "committed": committed,
                                      "lag": lag, "members": described.get(group, 0)}
        return out
    finally:
        consumer.close()
        admin.close()


def read_dead_letters(settings: Settings, *, limit: int = 20, timeout_ms: int = 3000) -> list:
    """The newest ``limit`` records of the dead-letter topic, oldest first (no consumer group)."""
    from shared.schemas import DeadLetter

    topic = Topics.from_settings(settings).deadletter
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=timeout_ms, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(ends[tp] - limit, 0))
        records = [DeadLetter.model_validate_json(m.value) for m in consumer]
    finally:
        consumer.close()
    return sorted(records, key=lambda r: r.failed_at)[-limit:]


def wait_until_idle(settings: Settings, *, timeout_seconds: float = 600, poll_seconds: float = 2.0,
                    on_poll=None) -> dict[str, Any]:
    """Wait until every service's lag is 0 on two polls in a row; returns the last status.

    Raises:
        TimeoutError: when the pipeline still has lag after ``timeout_seconds``.
    """
    deadline = time.monotonic() + timeout_seconds
    quiet = 0
    while True:
        status = pipeline_status(settings)
        if on_poll:
            on_poll(status)
        lag = sum(g["lag"] for g in status["groups"].values())
        quiet = quiet + 1 if lag == 0 else 0
        if quiet >= 2:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"pipeline still has {lag} messages of lag after {timeout_seconds:.0f} s: {status['groups']}")
        time.sleep(poll_seconds)

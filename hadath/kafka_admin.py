"""Kafka administration with kafka-python: topic creation, end offsets and consumer-group lag,
reading the dead-letter topic and sending replayed records."""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from shared import limits
from shared.settings import Settings
from shared.topics import Topics

SERVICES = ("ingest", "normalize", "extract", "events", "index")

# kafka-python warns on every describe of a Faust group (it cannot decode Faust's member
# metadata); the member count we need is unaffected.
logging.getLogger("kafka.admin._groups").setLevel(logging.ERROR)


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="hadath-admin",
                            request_timeout_ms=30_000)


def ensure_topics(settings: Settings) -> list[str]:
    """Create the pipeline topics (``settings.topic_partitions`` partitions, one for
    ``articles.enriched``: :meth:`shared.topics.Topics.partitions`; replication 1) with the size
    limits and compression of :mod:`shared.limits`.

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
                admin.create_topics([NewTopic(name=name, num_partitions=topics.partitions(name, settings),
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
            "events": topics.enriched, "index": topics.clustered}[service]


def group_member_ids(admin: KafkaAdminClient, groups: list[str]) -> dict[str, set[str]]:
    """Member ids of each consumer group that is ``Stable`` (empty while it rebalances or is
    empty; ``{}`` when the coordinator does not answer yet)."""
    try:
        described = admin.describe_groups(groups)
    except Exception:  # noqa: BLE001 - the group coordinator may not be ready yet
        return {}
    return {g: ({m.get("member_id", "") for m in d.get("members") or []} if d.get("group_state") == "Stable"
                else set()) for g, d in described.items()}


def group_members(admin: KafkaAdminClient, groups: list[str]) -> dict[str, int]:
    """Members of each consumer group that is ``Stable`` (0 while it rebalances or is empty)."""
    return {g: len(ids) for g, ids in group_member_ids(admin, groups).items()}


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


def read_dead_letters(settings: Settings, *, limit: int = 20, timeout_seconds: float = 30) -> list:
    """The newest ``limit`` records of the dead-letter topic as ``DeadLetter``, oldest first.

    Raises:
        pydantic.ValidationError: a record on the topic that is not a dead letter.
        TimeoutError: see :func:`read_dead_letter_values`.
    """
    from shared.schemas import DeadLetter

    records = [DeadLetter.model_validate_json(v)
               for v in read_dead_letter_values(settings, limit=limit, timeout_seconds=timeout_seconds)]
    return sorted(records, key=lambda r: r.failed_at)[-limit:]


def read_dead_letter_values(settings: Settings, *, limit: int | None = None,
                            timeout_seconds: float = 30) -> list[bytes]:
    """Record values (bytes) of the dead-letter topic, partition by partition, each partition in
    offset order, up to the end offsets it had when called (records that arrive meanwhile are
    left for next time); no consumer group, nothing committed.

    Args:
        limit: at most the last ``limit`` records of each partition; ``None`` reads every
            partition from its beginning.
        timeout_seconds: longest wait for those records, seconds.

    Returns an empty list at once when the topic is missing or empty.

    Raises:
        TimeoutError: the records up to the end offsets did not all arrive within
            ``timeout_seconds``.
    """
    topic = Topics.from_settings(settings).deadletter
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                             group_id=None, request_timeout_ms=30_000,
                             max_partition_fetch_bytes=limits.consumer_max_fetch_bytes(settings))
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        firsts, ends = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        todo = {tp: ends[tp] for tp in tps if ends[tp] > firsts[tp]}
        for tp in tps:
            consumer.seek(tp, firsts[tp] if limit is None else max(ends[tp] - limit, firsts[tp]))
        consumer.pause(*(tp for tp in tps if tp not in todo))
        got: dict[TopicPartition, list[bytes]] = {tp: [] for tp in tps}
        deadline = time.monotonic() + timeout_seconds
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: records up to the end offsets did not arrive within "
                                   f"{timeout_seconds:.0f} s (still waiting on partitions "
                                   f"{sorted(tp.partition for tp in todo)})")
            for tp, messages in consumer.poll(timeout_ms=500).items():
                got[tp].extend(m.value for m in messages if m.offset < ends[tp])
            for tp in [tp for tp in todo if consumer.position(tp) >= ends[tp]]:
                del todo[tp]
                consumer.pause(tp)
        return [v for tp in tps for v in got[tp]]
    finally:
        consumer.close()


def send_records(settings: Settings, records: list) -> int:
    """Send ``records`` (objects with ``topic``, ``key``, ``value``, ``headers``, like
    :class:`hadath.replay.ReplayRecord`) with ``acks="all"``, wait until the broker acknowledged
    each one, and return how many were sent.

    The producer takes records up to :func:`shared.limits.producer_max_request_bytes` (any
    dead letter's payload fits: it was at most one record of a pipeline topic) and compresses
    with :data:`shared.limits.COMPRESSION`, like every producer of the project.

    Raises:
        kafka.errors.KafkaError: a send the broker did not acknowledge (records before it in the
            list may have been written).
    """
    if not records:
        return 0
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                             max_request_size=limits.producer_max_request_bytes(settings),
                             compression_type=limits.COMPRESSION,
                             client_id="hadath-replay")
    try:
        futures = [producer.send(r.topic, key=r.key, value=r.value, headers=r.headers) for r in records]
        producer.flush()
        for future in futures:
            future.get(timeout=60)
        return len(futures)
    finally:
        producer.close()


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

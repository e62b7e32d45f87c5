"""Faust wiring shared by the four services: the app factory, the dead-letter sink and the
batch loop every stage runs.

A stage is a pure function ``handle(batch of raw message bytes) -> outcomes``; this module does
the Kafka part: it reads the input topic in batches (``Stream.take_events``), calls the stage,
sends what came out keyed by ``article_id``, sends what failed to ``articles.deadletter`` with
its reason, waits for the broker to acknowledge every send, and only then lets Faust commit
the batch's offsets (at-least-once; the index's deterministic ``_id`` makes it exactly-once in
Elasticsearch).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import faust

from shared.schemas import DeadLetter
from shared.settings import Settings
from shared.topics import Topics

log = logging.getLogger("hadath")


class StageError(Exception):
    """A message a stage cannot process: it goes to the dead-letter topic with this reason.

    Attributes:
        error_type: short machine-readable code, e.g. ``"schema"`` or ``"invalid_utf8"``.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass
class Outcome:
    """What a stage made of one input message: output records, or a failure.

    ``outputs`` is a list of ``(key, value)`` byte pairs for the output topic (zero or more:
    ingest may split a page into two stories, or drop a duplicate); ``error`` is set when the
    message goes to the dead-letter topic instead.
    """

    outputs: list[tuple[bytes, bytes]] = field(default_factory=list)
    error: StageError | None = None
    on_delivered: Callable[[], None] | None = None
    """Called once the broker acknowledged every output of the batch (e.g. to remember what
    was sent); never called for a batch whose sends failed, which is then read again."""


def broker_urls(settings: Settings) -> list[str]:
    """Faust broker URLs (``kafka://host:port``) from ``HADATH_KAFKA_BOOTSTRAP``."""
    return [f"kafka://{h.strip()}" for h in settings.kafka_bootstrap.split(",") if h.strip()]


def make_app(service: str, settings: Settings) -> faust.App:
    """A stateless Faust app for ``service`` (no tables, no web server).

    The app id, and so the consumer group, is ``settings.group_id(service)``; every consumer of
    one service shares it, so ``N`` extract workers split the partitions between them.
    """
    datadir = settings.home / "faust" / settings.group_id(service)
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.group_id(service),
        broker=broker_urls(settings),
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        topic_replication_factor=1,
        topic_partitions=settings.topic_partitions,
        producer_max_request_size=max(settings.max_message_bytes * 2, 1_048_576),
        consumer_max_fetch_size=max(settings.max_message_bytes * 2, 4_194_304),
        consumer_auto_offset_reset="earliest",
        broker_commit_every=100,
        # a crashed worker's partitions move to the others after this long (default 60 s)
        broker_session_timeout=20.0,
        broker_heartbeat_interval=3.0,
        broker_commit_interval=1.0,
        datadir=str(datadir),
    )


def dead_letter(
    stage: str, error: StageError | BaseException, *, payload: bytes | None, key: bytes | None,
    topic: str | None = None, partition: int | None = None, offset: int | None = None,
) -> DeadLetter:
    """Build the dead-letter record for a failed message; ``payload`` is kept whole.

    Bytes that are not UTF-8 are carried as base64 (``payload_encoding="base64"``).
    """
    error_type = getattr(error, "error_type", None) or type(error).__name__
    try:
        text, encoding = (payload or b"").decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(payload or b"").decode("ascii"), "base64"
    key_text = None
    if key is not None:
        try:
            key_text = key.decode("utf-8")
        except UnicodeDecodeError:
            key_text = base64.b64encode(key).decode("ascii")
    return DeadLetter(
        stage=stage, error_type=error_type, error_message=str(error) or repr(error),
        topic=topic, partition=partition, offset=offset, key=key_text,
        payload=text, payload_encoding=encoding, failed_at=datetime.now(UTC),
    )


BatchHandler = Callable[[Sequence[bytes]], Awaitable[list[Outcome]] | list[Outcome]]


def add_stage_agent(
    app: faust.App, *, stage: str, settings: Settings, source: str, sink: str | None,
    handle: BatchHandler, batch_size: int = 64, batch_seconds: float = 0.5,
) -> None:
    """Attach the agent of ``stage``: read ``source`` in batches, write ``sink`` and dead letters.

    Args:
        handle: called with the batch's raw values (bytes), returns one :class:`Outcome` per
            value, in order. It may be a coroutine function. Any exception it raises is caught:
            every message of the batch is then retried one by one, so a single poison message
            goes to the dead-letter topic alone.
        sink: output topic, or ``None`` for the last stage (index writes to Elasticsearch).
        batch_size / batch_seconds: at most this many messages, or what came within this many
            seconds, per call.
    """
    topics = Topics.from_settings(settings)
    source_topic = app.topic(source, value_serializer="raw", key_serializer="raw")
    sink_topic = app.topic(sink, value_serializer="raw", key_serializer="raw") if sink else None
    dlq_topic = app.topic(topics.deadletter, value_serializer="raw", key_serializer="raw")

    async def call(values: Sequence[bytes]) -> list[Outcome]:
        result = handle(values)
        if asyncio.iscoroutine(result):
            result = await result
        if len(result) != len(values):
            raise RuntimeError(f"{stage}: handler returned {len(result)} outcomes for {len(values)} messages")
        return result

    async def agent(stream):  # noqa: ANN001 - Faust stream
        async for events in stream.take_events(batch_size, within=batch_seconds):
            values = [e.value if e.value is not None else b"" for e in events]
            try:
                outcomes = await call(values)
            except Exception:  # noqa: BLE001 - isolate the poison message
                log.warning("%s: batch of %d failed, retrying one by one", stage, len(values))
                outcomes = []
                for v in values:
                    try:
                        outcomes.extend(await call([v]))
                    except Exception as exc:  # noqa: BLE001
                        outcomes.append(Outcome(error=StageError(
                            type(exc).__name__, f"{exc} ({traceback.format_exc(limit=3).splitlines()[-1]})")))
            pending = []
            for event, outcome in zip(events, outcomes):
                msg = event.message
                if outcome.error is not None:
                    record = dead_letter(stage, outcome.error, payload=msg.value, key=msg.key,
                                         topic=msg.topic, partition=msg.partition, offset=msg.offset)
                    log.warning("%s: dead-lettered %s[%s]@%s: %s: %s", stage, msg.topic, msg.partition,
                                msg.offset, record.error_type, record.error_message[:300])
                    pending.append(await dlq_topic.send(key=msg.key, value=record.model_dump_json().encode()))
                    continue
                if sink_topic is not None:
                    for key, value in outcome.outputs:
                        pending.append(await sink_topic.send(key=key, value=value))
            # Delivery of every output is confirmed before take_events acks (commits) the batch.
            if pending:
                await asyncio.gather(*pending)
            for outcome in outcomes:
                if outcome.on_delivered is not None:
                    outcome.on_delivered()

    agent.__name__ = f"{stage}_agent"
    agent.__qualname__ = agent.__name__
    app.agent(source_topic, name=f"{stage}")(agent)


def run_worker(app: faust.App, loglevel: str = "info") -> None:
    """Run ``app`` as a Faust worker in this process until SIGTERM/SIGINT (never returns)."""
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.argv = [sys.argv[0], "worker", "--loglevel", loglevel, "--without-web"]
    app.main()

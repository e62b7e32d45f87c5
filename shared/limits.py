"""Size limits of the pipeline, all derived from one setting: ``HADATH_MAX_MESSAGE_BYTES``.

The promise is that any article the gate accepts fits every later topic, its dead letter
included, so no send can fail for size on the way to Elasticsearch. One number is configured,
the largest raw record (``Settings.max_message_bytes``, default 1,000,000 bytes: what
``hadath feed`` sends and the ingest gate accepts); every other limit follows from it here:

==============================  =========================================  ===================
limit                           formula                                    default
==============================  =========================================  ===================
raw record (feed, gate)         ``max_message_bytes``                      1,000,000 bytes
pipeline record                 ``PIPELINE_GROWTH × raw``                  8,000,000 bytes
(ingested, normalized,
enriched; ``max.message.bytes``
of those topics)
dead-letter record              ``2 × pipeline + DEADLETTER_OVERHEAD``     16,065,536 bytes
(``max.message.bytes`` of the
dead-letter topic)
producer request, consumer      the dead-letter record                     16,065,536 bytes
fetch, broker
``message.max.bytes``
==============================  =========================================  ===================

Why these factors: after the gate a story's body is at most the raw record; normalize adds the
normalized body and title (about 2×), extract adds entities, places and dates (a few hundred
bytes each); 8× leaves room for an article dense with entities. A dead letter carries the
failed message whole as a JSON string, which escaping can at most double; a payload that
would grow more is carried as base64 instead (:func:`shared.streaming.dead_letter`).

Every topic is compressed with ``COMPRESSION`` (zstd: Arabic text shrinks about 3–4×; the
broker also recompresses anything a foreign producer sends uncompressed, so stored batches
are always zstd). The broker's ``max.message.bytes`` counts the compressed batch, the
producer's ``max_request_size`` the uncompressed record; both are set from this module.
"""

from __future__ import annotations

from shared.settings import Settings

#: How much larger a story may become between the raw record and ``articles.enriched``.
PIPELINE_GROWTH = 8
#: Bytes a dead-letter record adds around its payload (stage, reason, offsets; the reason of
#: a schema error lists every field).
DEADLETTER_OVERHEAD_BYTES = 64 * 1024
#: Broker floor for ``message.max.bytes`` (16 MiB), so a small ``max_message_bytes`` in a test
#: does not shrink the broker below what docker-compose sets.
BROKER_FLOOR_BYTES = 16 * 1024 * 1024
#: Compression codec of every topic and every producer of the project.
COMPRESSION = "zstd"


def raw_record_bytes(settings: Settings) -> int:
    """Largest raw record ``hadath feed`` sends and the gate accepts, in bytes."""
    return settings.max_message_bytes


def pipeline_record_bytes(settings: Settings) -> int:
    """Largest record on ``articles.ingested``/``normalized``/``enriched``, in bytes."""
    return PIPELINE_GROWTH * settings.max_message_bytes


def deadletter_record_bytes(settings: Settings) -> int:
    """Largest record on ``articles.deadletter``, in bytes (a pipeline record, escaped)."""
    return 2 * pipeline_record_bytes(settings) + DEADLETTER_OVERHEAD_BYTES


def producer_max_request_bytes(settings: Settings) -> int:
    """``max_request_size`` of every producer (uncompressed bytes): the largest record sent."""
    return deadletter_record_bytes(settings)


def consumer_max_fetch_bytes(settings: Settings) -> int:
    """Per-partition fetch size of every consumer, in bytes (one whole largest record)."""
    return deadletter_record_bytes(settings)


def broker_max_message_bytes(settings: Settings) -> int:
    """The broker's ``message.max.bytes`` / ``replica.fetch.max.bytes``, in bytes."""
    return max(BROKER_FLOOR_BYTES, deadletter_record_bytes(settings))


def topic_configs(settings: Settings, *, deadletter: bool) -> dict[str, str]:
    """Kafka topic configs of a pipeline topic (``deadletter=False``) or the dead-letter one."""
    limit = deadletter_record_bytes(settings) if deadletter else pipeline_record_bytes(settings)
    return {"max.message.bytes": str(limit), "compression.type": COMPRESSION}

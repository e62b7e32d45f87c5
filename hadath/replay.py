"""Replay of dead letters, the pure part: which dead letters to replay, and what to send.

``hadath deadletters replay`` reads the whole dead-letter topic (:func:`hadath.kafka_admin.
read_dead_letter_values`), keeps the records :func:`select` chooses, turns each into the Kafka
record :func:`to_record` builds (the original message, decoded from base64 when it was so
carried, sent back to the topic its stage reads) and sends them
(:func:`hadath.kafka_admin.send_records`, with the size limits of :mod:`shared.limits`).
Nothing here does I/O.

A replayed message that fails again is simply dead-lettered again (a new dead letter; the old
one stays): replay never loops by itself. What then succeeds is indexed once, since the
document ``_id`` is the ``article_id``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from hadath.kafka_admin import SERVICES, input_topic
from shared.schemas import DeadLetter
from shared.topics import Topics

STAGES: tuple[str, ...] = ("feed", *SERVICES)
"""Every stage a dead letter may name (the values of ``DeadLetter.stage``)."""

REPLAY_HEADER = "hadath-replay-of"
"""Kafka header on every replayed record: ``b"<topic>/<partition>/<offset>"`` of the original
message (``?`` for a part the dead letter does not know)."""

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_HEXISH = re.compile(r"^[0-9a-fA-F-]*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class ReplayRecord:
    """One record to send: ``value`` (and ``key``, ``None`` when the original had none) as bytes
    to ``topic``, with ``headers`` (kafka-python's ``[(name, bytes)]``); ``dead_letter`` is the
    record it came from."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    dead_letter: DeadLetter


def parse_since(text: str, *, now: datetime | None = None, flag: str = "--since") -> datetime:
    """The moment ``--since`` means, as an aware UTC datetime.

    Args:
        text: ISO 8601 (``2026-01-05``, ``2026-01-05T10:00:00+03:00``; a time without an offset
            is taken as UTC) or a relative age: a number and a unit ``s``, ``m``, ``h``, ``d``,
            ``w`` (``30m``, ``2h``, ``1d``, ``1.5h``), meaning that long before ``now``.
        now: the present (default: the clock), for the relative forms.
        flag: the option named in the error message.

    Raises:
        ValueError: ``text`` is neither form.
    """
    match = _RELATIVE.match(text)
    if match:
        age = timedelta(**{_UNITS[match.group(2).lower()]: float(match.group(1))})
        return (now or datetime.now(UTC)) - age
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{flag} {text!r}: give ISO 8601 (2026-01-05, 2026-01-05T10:00:00+03:00) "
                         "or an age such as 30m, 2h, 1d") from None
    return as_utc(moment)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken as UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_dead_letters(values: Iterable[bytes]) -> tuple[list[DeadLetter], int]:
    """The dead-letter topic's record values as :class:`DeadLetter`, in the order given, and how
    many were not a dead letter at all (skipped, not raised: one foreign record must not stop a
    replay)."""
    records, unreadable = [], 0
    for value in values:
        try:
            records.append(DeadLetter.model_validate_json(value))
        except ValidationError:
            unreadable += 1
    return records, unreadable


def check_stages(stages: Iterable[str]) -> list[str]:
    """``stages`` as given, after checking each is a stage name.

    Raises:
        ValueError: a name that is not in :data:`STAGES`.
    """
    stages = list(stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage {', '.join(map(repr, unknown))}: choose from {', '.join(STAGES)}")
    return stages


def select(dead_letters: Iterable[DeadLetter], stages: Sequence[str] = (), error_types: Sequence[str] = (),
           since: datetime | None = None) -> list[DeadLetter]:
    """The dead letters to replay, in the order given.

    Args:
        stages: keep only these stages (any of them); empty keeps every stage.
        error_types: keep only these ``error_type`` values (exact match); empty keeps all.
        since: keep only those with ``failed_at >= since`` (an aware datetime; a naive
            ``failed_at`` is taken as UTC); ``None`` keeps all.
    """
    return [dl for dl in dead_letters
            if (not stages or dl.stage in stages)
            and (not error_types or dl.error_type in error_types)
            and (since is None or failed_at_utc(dl) >= since)]


def failed_at_utc(dl: DeadLetter) -> datetime:
    """``dl.failed_at`` as an aware UTC datetime (a naive one is taken as UTC)."""
    return as_utc(dl.failed_at)


def target_topic(topics: Topics, stage: str) -> str:
    """The topic a dead letter of ``stage`` is replayed to: the one that stage reads
    (``feed``, which failed before anything was sent, goes to ``articles.raw``).

    Raises:
        KeyError: ``stage`` is not a stage name.
    """
    return topics.raw if stage == "feed" else input_topic(topics, stage)


def decode_payload(dl: DeadLetter) -> bytes:
    """The original message bytes: ``payload`` decoded from base64 when ``payload_encoding`` is
    ``"base64"``, else its UTF-8 encoding."""
    if dl.payload_encoding == "base64":
        return base64.b64decode(dl.payload, validate=True)
    return dl.payload.encode("utf-8")


def decode_key(dl: DeadLetter) -> bytes | None:
    """The original message key, or ``None`` when it had none.

    ``key_encoding`` says how the key is carried. A dead letter written before that field
    existed carries a key that is not UTF-8 as base64 with nothing saying so; for those this is
    a best reading, not a certainty. A key is taken as base64 only
    when the payload too is carried as base64 (bytes that are not UTF-8, or text full of control
    characters: :func:`shared.streaming.dead_letter`), the key is strict
    base64 and not only hex digits and dashes (hex ids and UUIDs, the usual keys, are valid
    base64 too; base64 of binary bytes is almost never all hex), and what it decodes to is not
    UTF-8 (so the dead-letter writer could not have kept it as text). Every other key is its
    UTF-8 text (the pipeline's own keys, ``article_id`` hex digits, always are).
    """
    if dl.key is None:
        return None
    if dl.key_encoding is not None:
        return base64.b64decode(dl.key) if dl.key_encoding == "base64" else dl.key.encode("utf-8")
    if dl.payload_encoding == "base64" and not _HEXISH.match(dl.key):
        try:
            raw = base64.b64decode(dl.key, validate=True)
            raw.decode("utf-8")
        except binascii.Error:
            pass
        except UnicodeDecodeError:
            return raw
    return dl.key.encode("utf-8")


def origin(dl: DeadLetter) -> str:
    """``topic/partition/offset`` of the original message (``?`` for what is unknown)."""
    return "/".join("?" if part is None else str(part) for part in (dl.topic, dl.partition, dl.offset))


def to_record(dl: DeadLetter, topics: Topics) -> ReplayRecord:
    """The Kafka record that replays ``dl``: its original key and payload, to the topic of its
    stage, with the :data:`REPLAY_HEADER` header.

    Raises:
        KeyError: ``dl.stage`` is not a stage name.
        binascii.Error: a ``base64`` payload that is not base64.
    """
    return ReplayRecord(topic=target_topic(topics, dl.stage), key=decode_key(dl), value=decode_payload(dl),
                        headers=[(REPLAY_HEADER, origin(dl).encode("utf-8"))], dead_letter=dl)


def to_records(dead_letters: Iterable[DeadLetter], topics: Topics) -> tuple[list[ReplayRecord], list[tuple[DeadLetter, str]]]:
    """:func:`to_record` of each dead letter, in order, and those that cannot be replayed (a
    ``base64`` payload or key that is not base64) with the reason: one bad record must not stop
    the others."""
    records, refused = [], []
    for dl in dead_letters:
        try:
            records.append(to_record(dl, topics))
        except (binascii.Error, ValueError) as exc:
            refused.append((dl, f"payload ({dl.payload_encoding}) cannot be decoded: {exc}"))
    return records, refused


def counts(records: Iterable[ReplayRecord]) -> dict[tuple[str, str], int]:
    """How many records per ``(stage, target topic)``, sorted by stage then topic."""
    tally = Counter((r.dead_letter.stage, r.topic) for r in records)
    return dict(sorted(tally.items()))

"""``hadath feed``: send files of articles to ``articles.raw`` with kafka-python.

Each input record is sent as it is (the ingest service is the gate): a JSON Lines line's bytes
unchanged, each object of a JSON array re-serialized, a plain-text or HTML file wrapped as
``{"source", "title", "body", "content_type"}``. A record larger than
``Settings.max_message_bytes`` is refused here, by name, and counted; nothing is dropped
without a word.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaProducer

from shared import limits
from shared.settings import Settings, env_name
from shared.topics import Topics

TEXT_SUFFIXES = {".txt": "text/plain", ".text": "text/plain", ".html": "text/html", ".htm": "text/html"}
JSON_SUFFIXES = {".jsonl", ".ndjson", ".json", ".jsonl.gz"}


@dataclass
class Record:
    """One record to send: where it came from (``file:line``) and its bytes."""

    origin: str
    value: bytes


@dataclass
class FeedReport:
    """What a feed did: counts, and one line per refused record saying why."""

    sent: int = 0
    refused: int = 0
    reasons: list[str] = field(default_factory=list)

    def refuse(self, origin: str, reason: str) -> None:
        """Count a refused record and keep its reason."""
        self.refused += 1
        self.reasons.append(f"{origin}: {reason}")


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files named, and the supported files inside folders named (sorted).

    Raises:
        FileNotFoundError: for a path that does not exist.
    """
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and _kind(p))
        else:
            files.append(path)
    return files


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith((".jsonl", ".ndjson", ".jsonl.gz")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if path.suffix.lower() in TEXT_SUFFIXES:
        return "text"
    return None


def count_records(paths: Iterable[Path]) -> int | None:
    """How many records :func:`feed` will read (non-blank JSON Lines lines, JSON array items,
    one per text file), for a progress bar; ``None`` when a path is missing."""
    try:
        files = expand(paths)
    except FileNotFoundError:
        return None
    total = 0
    for path in files:
        kind = _kind(path) or "text"
        if kind == "jsonl":
            opener = __import__("gzip").open if path.name.lower().endswith(".gz") else open
            with opener(path, "rb") as fh:
                total += sum(1 for line in fh if line.strip())
        elif kind == "json":
            try:
                parsed = json.loads(path.read_bytes())
                total += len(parsed) if isinstance(parsed, list) else 1
            except (UnicodeDecodeError, json.JSONDecodeError):
                total += 1
        else:
            total += 1
    return total


def records(path: Path, *, source: str | None, report: FeedReport) -> Iterator[Record]:
    """The records of one file (see module doc); unreadable parts are refused into ``report``."""
    kind = _kind(path) or "text"
    if kind == "jsonl":
        opener = __import__("gzip").open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as fh:
            for n, line in enumerate(fh, 1):
                line = line.rstrip(b"\r\n")
                if line.strip():
                    yield Record(f"{path}:{n}", line)
        return
    data = path.read_bytes()
    if kind == "json":
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            yield Record(str(path), data)  # as it is: the gate dead-letters it with the reason
            return
        items = parsed if isinstance(parsed, list) else [parsed]
        for n, item in enumerate(items, 1):
            yield Record(f"{path}[{n}]", json.dumps(item, ensure_ascii=False).encode())
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        report.refuse(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start}); convert it to UTF-8")
        return
    wrapped = {"source": source or path.parent.name or "file", "body": text,
               "content_type": TEXT_SUFFIXES.get(path.suffix.lower(), "text/plain")}
    yield Record(str(path), json.dumps(wrapped, ensure_ascii=False).encode())


def feed(paths: Iterable[Path], settings: Settings, *, source: str | None = None,
         on_record: Callable[[Record], None] | None = None) -> FeedReport:
    """Send every record of ``paths`` to ``articles.raw``; returns the counts.

    ``source`` fills the ``source`` of wrapped text/HTML files (JSON records are sent as they
    are). Records over ``settings.max_message_bytes`` bytes are refused with their size.
    """
    topics = Topics.from_settings(settings)
    report = FeedReport()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20,
                             max_request_size=limits.producer_max_request_bytes(settings),
                             compression_type=limits.COMPRESSION, retries=5)
    max_bytes = limits.raw_record_bytes(settings)
    failures: list[str] = []
    try:
        for path in expand(paths):
            for rec in records(path, source=source, report=report):
                if on_record:
                    on_record(rec)
                if len(rec.value) > max_bytes:
                    report.refuse(rec.origin, f"{len(rec.value):,} bytes is over the {max_bytes:,}-byte "
                                              f"message limit ({env_name('max_message_bytes')}); split or shorten it")
                    continue
                fut = producer.send(topics.raw, value=rec.value)
                fut.add_errback(lambda exc, origin=rec.origin: failures.append(f"{origin}: {exc}"))
                report.sent += 1
        producer.flush(timeout=120)
    finally:
        producer.close()
    for failure in failures:
        report.sent -= 1
        report.refuse(failure.split(": ", 1)[0], "Kafka did not accept it: " + failure.split(": ", 1)[1])
    return report

"""``hadath feed``: send files of articles to ``articles.raw`` with kafka-python.

Each input record is sent as it is (the ingest service is the gate): a JSON Lines line's bytes
unchanged, each object of a JSON array re-serialized, a plain-text or HTML file wrapped as
``{"source", "title", "body", "content_type"}``. Formats (:func:`file_format` says which one a
file is; the feed reports it per file):

- ``hadath``: JSON / JSON Lines records with ``body`` (the ``RawArticle`` fields);
- ``news-please``: records with ``maintext`` — ``maintext``→``body``, ``date_publish``→
  ``published_at``, ``source_domain``→``source``, ``authors``→``author``, ``title``, ``url``
  kept; ``language`` kept when set; other fields go on as they are (the gate keeps them in
  ``extra``);
- ``trafilatura``: records with ``text`` and no ``body`` — ``text``→``body``, ``date``→
  ``published_at``, ``hostname``→``source``, ``author``, ``title``, ``url``;
- ``rss`` / ``atom``: ``.xml``, ``.rss``, ``.atom`` files (or ``file://`` URLs of them) read
  by feedparser — one record per entry: ``title``, ``link``→``url``, ``id``, the entry's
  content (else summary) as HTML →``body``, ``published``/``updated``→``published_at`` (ISO
  8601, UTC), ``author``, the feed's title→``source``;
- ``text`` / ``html``: a ``.txt`` / ``.html`` file, one record. A record larger than
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
FEED_SUFFIXES = {".xml", ".rss", ".atom"}
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
    #: file path → the format detected for it (see :func:`file_format`)
    formats: dict[str, str] = field(default_factory=dict)

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
        path = local_path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and _kind(p))
        else:
            files.append(path)
    return files


def local_path(path: Path | str) -> Path:
    """``path``, or the local file a ``file://`` URL names (``file:///tmp/a.xml``).

    Raises:
        ValueError: for a URL of another scheme (only local files are read).
    """
    text = str(path)
    if "://" in text or text.startswith("file:"):
        from urllib.parse import unquote, urlparse

        url = urlparse(text)
        if url.scheme != "file":
            raise ValueError(f"only local files are read, not {url.scheme}:// URLs: {text}")
        return Path(unquote(url.path))
    return Path(path)


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if path.suffix.lower() in FEED_SUFFIXES:
        return "feed"
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
    except (FileNotFoundError, ValueError):
        return None
    total = 0
    for path in files:
        kind = _kind(path) or "text"
        if kind == "feed":
            total += sum(1 for _ in _feed_entries(path, None))
        elif kind == "jsonl":
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


NEWS_PLEASE_FIELDS = {"maintext": "body", "date_publish": "published_at", "source_domain": "source",
                      "authors": "author", "title": "title", "url": "url"}
TRAFILATURA_FIELDS = {"text": "body", "date": "published_at", "hostname": "source", "author": "author",
                      "title": "title", "url": "url"}


def record_format(obj: object) -> str:
    """``"news-please"`` (has ``maintext``), ``"trafilatura"`` (``text`` and no ``body``) or
    ``"hadath"`` (anything else, sent as it is) for one parsed JSON record."""
    if isinstance(obj, dict) and "body" not in obj:
        if "maintext" in obj:
            return "news-please"
        if "text" in obj:
            return "trafilatura"
    return "hadath"


def map_record(obj: dict, fmt: str) -> dict:
    """``obj`` with a scraper's field names mapped to Hadath's (tables in the module doc);
    fields that are not mapped are kept under their own names (the gate puts them in
    ``extra``). A mapped field that is ``null`` is left out; a list of ``authors`` stays a list."""
    table = NEWS_PLEASE_FIELDS if fmt == "news-please" else TRAFILATURA_FIELDS if fmt == "trafilatura" else None
    if table is None:
        return obj
    out: dict = {}
    for key, value in obj.items():
        if key in table:
            if value is not None:
                out[table[key]] = value
        elif key not in out:
            out[key] = value
    if fmt == "news-please" and isinstance(out.get("published_at"), str):
        out["published_at"] = out["published_at"].replace(" ", "T", 1) if len(out["published_at"]) == 19 \
            else out["published_at"]
    if fmt == "news-please" and out.get("language") is None:
        out.pop("language", None)
    return out


def _feed_entries(path: Path, source: str | None) -> Iterator[tuple[str, dict]]:
    """``(format, record)`` for each entry of an RSS or Atom file (feedparser)."""
    import calendar
    from datetime import UTC, datetime

    import feedparser

    parsed = feedparser.parse(path.read_bytes())
    version = parsed.get("version") or ""
    fmt = "atom" if version.startswith("atom") else "rss"
    feed_title = (parsed.feed.get("title") or "").strip() or None
    for entry in parsed.entries:
        content = entry.get("content") or []
        body = content[0].get("value") if content else entry.get("summary") or entry.get("description")
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        rec = {
            "id": entry.get("id"),
            "source": source or feed_title or path.stem,
            "url": entry.get("link"),
            "title": entry.get("title"),
            "body": body or "",
            "published_at": datetime.fromtimestamp(calendar.timegm(when), UTC).isoformat() if when else None,
            "content_type": "text/html",
            "author": entry.get("author"),
        }
        yield fmt, {k: v for k, v in rec.items() if v is not None}


def file_format(path: Path) -> str:
    """The format of a file, as :func:`records` reads it: ``rss``, ``atom``, ``news-please``,
    ``trafilatura``, ``hadath`` (JSON records; of the first record), ``html`` or ``text``."""
    path = local_path(path)
    kind = _kind(path) or "text"
    if kind == "feed":
        return next((fmt for fmt, _ in _feed_entries(path, None)), "rss")
    if kind == "text":
        return "html" if TEXT_SUFFIXES.get(path.suffix.lower()) == "text/html" else "text"
    formats: dict[str, str] = {}
    for _ in records(path, source=None, report=FeedReport(), _formats=formats):
        break
    return formats.get(str(path), "hadath")


def records(path: Path, *, source: str | None, report: FeedReport,
            _formats: dict[str, str] | None = None) -> Iterator[Record]:
    """The records of one file (see module doc); unreadable parts are refused into ``report``,
    the format detected goes into ``report.formats[str(path)]`` (the first record's for JSON)."""
    path = local_path(path)
    formats = report.formats if _formats is None else _formats
    kind = _kind(path) or "text"
    if kind == "feed":
        n = 0
        for n, (fmt, rec) in enumerate(_feed_entries(path, source), 1):
            formats.setdefault(str(path), fmt)
            yield Record(f"{path}[{n}]", json.dumps(rec, ensure_ascii=False).encode())
        if n == 0:
            report.refuse(str(path), "no RSS or Atom entries found in it")
        return

    def mapped(origin: str, raw: bytes, item: object = None) -> Record:
        try:
            obj = json.loads(raw) if item is None else item
        except (UnicodeDecodeError, json.JSONDecodeError):
            formats.setdefault(str(path), "hadath")
            return Record(origin, raw)  # as it is: the gate dead-letters it with the reason
        fmt = record_format(obj)
        formats.setdefault(str(path), fmt)
        if fmt == "hadath":
            return Record(origin, raw)
        return Record(origin, json.dumps(map_record(obj, fmt), ensure_ascii=False).encode())

    if kind == "jsonl":
        opener = __import__("gzip").open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as fh:
            for n, line in enumerate(fh, 1):
                line = line.rstrip(b"\r\n")
                if line.strip():
                    yield mapped(f"{path}:{n}", line)
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
            raw = json.dumps(item, ensure_ascii=False).encode()
            yield mapped(f"{path}[{n}]", raw, item)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        report.refuse(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start}); convert it to UTF-8")
        return
    content_type = TEXT_SUFFIXES.get(path.suffix.lower(), "text/plain")
    formats.setdefault(str(path), "html" if content_type == "text/html" else "text")
    wrapped = {"source": source or path.parent.name or "file", "body": text, "content_type": content_type}
    yield Record(str(path), json.dumps(wrapped, ensure_ascii=False).encode())


#: How long the feeder keeps retrying one record that Kafka refuses with a retriable error
#: (a broker restart, a leader election), milliseconds; then the record is reported refused.
FEED_DELIVERY_TIMEOUT_MS = 120_000


def feed(paths: Iterable[Path], settings: Settings, *, source: str | None = None,
         on_record: Callable[[Record], None] | None = None) -> FeedReport:
    """Send every record of ``paths`` to ``articles.raw``; returns the counts.

    ``source`` fills the ``source`` of wrapped text/HTML files (JSON records are sent as they
    are). Records over ``settings.max_message_bytes`` bytes are refused with their size, and
    records Kafka still refuses after :data:`FEED_DELIVERY_TIMEOUT_MS` of retries with their error.
    """
    topics = Topics.from_settings(settings)
    report = FeedReport()
    # retries and idempotence are kafka-python's defaults: a retriable error (a broker restarting,
    # a partition changing leader) is retried until delivery_timeout_ms, not given up after a few
    # 100 ms backoffs, and a retried batch is not written twice
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20,
                             max_request_size=limits.producer_max_request_bytes(settings),
                             compression_type=limits.COMPRESSION, delivery_timeout_ms=FEED_DELIVERY_TIMEOUT_MS)
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
        producer.flush(timeout=FEED_DELIVERY_TIMEOUT_MS / 1000 + 30)
    finally:
        producer.close()
    for failure in failures:
        report.sent -= 1
        report.refuse(failure.split(": ", 1)[0], "Kafka did not accept it: " + failure.split(": ", 1)[1])
    return report

"""The ingest gate: one raw Kafka message value in, validated stories out (no Kafka here).

``process_raw(value, ingested_at=..., default_source=None, max_body_chars=1_000_000)`` turns
the bytes of one ``articles.raw`` message into a list of ``IngestedArticle`` (the page's main
story first, then any story embedded in it), or raises ``Rejected`` with a machine code
(``error_type``) and a message a person can act on; the service sends the original message and
that reason to ``articles.deadletter`` and goes on.

Steps, in order (the first failure rejects the message):

=====================  ==================  ==================================================
step                   error_type          notes
=====================  ==================  ==================================================
size of the bytes      ``too_large``       more than ``6 * max_body_chars + 64 KiB`` bytes
                                           (no body under the limit can be that big, even
                                           with every character ``\\uXXXX``-escaped)
UTF-8 (strict)         ``invalid_utf8``    a leading UTF-8 BOM is accepted and dropped
JSON                   ``invalid_json``    message gives line, column, char offset; says
                                           when the text ends early (truncated)
a JSON object          ``not_an_object``   an array, string, number... is refused
``RawArticle`` model   ``schema``          missing ``body``, wrong types (a number in
                                           ``id``/``source``/``title``/``category`` is
                                           turned into text first), an unsupported
                                           ``schema_version``: every field
                                           error is listed by field name (a nested array or
                                           object where a string belongs is refused here;
                                           nested ~1,000 deep, at ``JSON`` already)
control characters     (fixed, see below)  NUL, other C0/C1 controls, BOM, lone surrogates
body size              ``too_large``       ``len(body)`` (characters, as sent) over
                                           ``max_body_chars``
blank body             ``empty_body``      also when nothing is left after HTML and
                                           boilerplate removal, or after control characters
declared language      ``unsupported_language``  ``language`` given and not Arabic
                                           (``ar``, ``ara``, ``arb``, ``ar-XX``, ``arabic``)
detected language      ``unsupported_language``  fewer than half of the letters are
                                           Arabic-script letters (``arabic_ratio``), or no
                                           letter at all (emoji, digits, punctuation only)
=====================  ==================  ==================================================

What is fixed rather than refused:

- Fields Hadath does not know (``author``, ``tags``, ``image_url``...) are kept with the main
  story as ``extra``, as sent, while their JSON fits :data:`EXTRA_MAX_BYTES` (64 KiB); the
  names of any left out are passed to ``on_warning`` (code ``"extra_truncated"``).

- HTML (``content_type == "text/html"``, or no ``content_type`` and the body contains markup): a
  whole page's main text is found by trafilatura (``markup.main_text``), else
  converted to text by ``markup.html_to_text`` (script/style and page chrome dropped, entities
  unescaped, one paragraph a line). A title with markup or entities is cleaned the same way; a
  missing title is taken from the page's ``<h1>``/``<title>``.
- Line ends ``\\r\\n``/``\\r`` and the Unicode line/paragraph separators U+2028/U+2029
  become ``\\n`` (one paragraph a line, as the rest of the pipeline expects).
- Control characters, in every string field (``_clean_controls``), before anything else reads
  them: Elasticsearch, Kibana and most tools choke on them and they carry no text:

  ======================================================  =====================================
  characters                                              become
  ======================================================  =====================================
  U+000B VT, U+000C FF, U+0085 NEL                        ``\\n`` (line breaks of word
                                                          processors and old encodings)
  U+001C..U+001F (information separators; whitespace to   one space
  Python's ``str.split``)
  U+0000 NUL, U+0001..U+0008, U+000E..U+001B, U+007F,     removed
  U+0080..U+009F (except NEL)
  U+FEFF BOM / zero-width no-break space (anywhere: a     removed
  BOM inside a field comes from concatenated files)
  a lone UTF-16 surrogate U+D800..U+DFFF (JSON            U+FFFD (a producer cut an emoji's
  ``"\\ud83d"`` without its pair)                          escape pair in two; the text cannot
                                                          be encoded otherwise)
  ======================================================  =====================================

  Tab and ``\\n`` are kept.
- ``published_at`` longer than ``MAX_DATE_CHARS`` characters is not a date: it is not parsed
  (``published_at=None`` with the ``unparsed_date`` warning below).
- The page is split into stories and boilerplate lines are removed (``pages.split_page``).
- ``published_at``: ISO 8601, else an Arabic date (``dates.parse_published_at``), stored in
  UTC. **An unparseable date does not reject the article**: ``published_at`` is ``None``
  (the index sorts such stories by ``ingested_at``), a warning naming the value is logged on
  the ``services.ingest.gate`` logger and passed to ``on_warning(code, message)`` when given
  (code ``"unparsed_date"``), so the service can count it.

Each story gets:

- ``article_id``: see ``ids`` (normalized URL, else source + external id, else a hash of
  source + title + main body; embedded stories: parent id + position); 20 hex digits.
- ``parent_id``: ``None`` for the main story; the main story's ``article_id`` for an embedded
  one.
- ``content_hash``: SHA-256 hex of the whitespace-collapsed body.
- ``source``: the message's ``source``, else ``default_source``; ``url``: the message's URL (for
  an embedded story: the page it was found on); ``language``: ``"ar"``.
- Embedded stories have their own title and body, ``published_at=None`` and
  ``category=None``: the page says nothing reliable about when or under what section that
  other story appeared.

Repeats are not dropped here: the same article sent twice gets the same ``article_id`` and
overwrites itself in the index (``_id`` = ``article_id``, first ``ingested_at`` kept), and the
same body from another outlet is another article, linked by ``duplicate_of``."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone

from pydantic import ValidationError

from shared.schemas import SCHEMA_VERSION, IngestedArticle, RawArticle

from . import ids
from .dates import MAX_DATE_CHARS, parse_published_at
from .furniture import date_lines, read_fields, strip_lines, strip_story
from .markup import html_to_text, looks_like_html, parse_html
from .pages import Story, is_headline_like, split_page

__all__ = [
    "Rejected",
    "process_raw",
    "arabic_ratio",
    "DEFAULT_MAX_BODY_CHARS",
    "MIN_ARABIC_RATIO",
    "MAX_DATE_CHARS",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_CHARS = 1_000_000
MIN_ARABIC_RATIO = 0.5
_ARABIC_CODES = {"ar", "ara", "arb", "arabic", "العربية", "عربي"}
_JSON_KIND = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


class Rejected(Exception):
    """A message the gate refuses. ``error_type`` is a short machine code (``invalid_utf8``,
    ``invalid_json``, ``not_an_object``, ``schema``, ``empty_body``, ``unsupported_language``,
    ``too_large``); ``message`` (also ``str(exc)``) says what was wrong, where, and what to do."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message

    def __repr__(self) -> str:
        return f"Rejected({self.error_type!r}, {self.message!r})"


def _is_arabic_letter(ch: str) -> bool:
    o = ord(ch)
    return (
        0x0600 <= o <= 0x06FF
        or 0x0750 <= o <= 0x077F
        or 0x08A0 <= o <= 0x08FF
        or 0xFB50 <= o <= 0xFDFF
        or 0xFE70 <= o <= 0xFEFF
    )


def arabic_ratio(text: str) -> float:
    """Share of Arabic-script letters among all letters of ``text`` (0.0 when it has none)."""
    letters = arabic = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            if _is_arabic_letter(ch):
                arabic += 1
    return arabic / letters if letters else 0.0


def _short(value: object, limit: int = 40) -> str:
    try:
        text = repr(value)
    except RecursionError:  # a structure nested nearly as deep as json.loads allows
        return f"(a {_JSON_KIND.get(type(value), type(value).__name__)} nested too deeply to show)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _schema_message(err: ValidationError) -> str:
    allowed = ", ".join(RawArticle.model_fields)
    problems: list[str] = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(message)"
        kind = e["type"]
        given = e.get("input")
        got = _JSON_KIND.get(type(given), type(given).__name__)
        if kind == "missing":
            hint = " — every article needs its text in 'body'" if field == "body" else ""
            problems.append(f"'{field}' is required but missing{hint}")
        elif kind == "extra_forbidden":
            problems.append(f"'{field}' is not a known field (remove it; allowed fields: {allowed})")
        elif kind == "string_type":
            problems.append(f"'{field}' must be a string (or null), got {got} {_short(given)}")
        elif kind in {"int_type", "int_parsing", "int_from_float"}:
            problems.append(f"'{field}' must be an integer, got {got} {_short(given)}")
        elif kind == "literal_error":
            problems.append(f"'{field}': {e['msg']}, got {got} {_short(given)}")
        else:
            problems.append(f"'{field}': {e['msg']} (got {got} {_short(given)})")
    return f"the message does not match the RawArticle schema: {'; '.join(problems)}"


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        bad = value[e.start : e.end]
        cut = " — the message looks truncated" if e.reason == "unexpected end of data" else ""
        raise Rejected(
            "invalid_utf8",
            f"the message is not valid UTF-8: {e.reason} (byte {bad[:4].hex(' ')} at byte offset "
            f"{e.start} of {len(value)}){cut}; producers must send JSON encoded as UTF-8 — re-encode "
            "the text (e.g. from Windows-1256 or Latin-1) before sending",
        ) from None


def _parse_json(text: str) -> object:
    if not text.strip():
        raise Rejected("invalid_json", "the message is empty; send one JSON object per message")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        truncated = e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string")
        why = (
            "the text ends before the JSON does — the message looks truncated; send the whole object"
            if truncated
            else "fix the JSON at that position"
        )
        raise Rejected(
            "invalid_json",
            f"the message is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno}, "
            f"character {e.pos} of {len(text)}); {why}",
        ) from None
    except RecursionError:
        raise Rejected(
            "invalid_json",
            "the message's JSON is nested too deeply to parse (about 1,000 arrays or objects one "
            "inside the other); send each article as one flat JSON object of string fields",
        ) from None


# Control characters (see the module docstring): found with one C-level search, replaced with
# str.translate only when there are any (ordinary text pays one regex scan).
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ud800-\udfff]")
_CONTROL_MAP: dict[int, str | None] = {
    **{c: None for c in (*range(0x00, 0x09), *range(0x0E, 0x1C), *range(0x7F, 0xA0))},
    0x0B: "\n", 0x0C: "\n", 0x85: "\n",
    **{c: " " for c in range(0x1C, 0x20)},
    0xFEFF: None,
    **{c: "\ufffd" for c in range(0xD800, 0xE000)},
}


def _clean_controls(text: str) -> str:
    """``text`` with its control characters replaced or removed (table in the module doc).

    ``str -> str``; tab, ``\\n`` and ``\\r`` (turned into ``\\n`` later) are kept. Linear.
    """
    if _CONTROL_RE.search(text) is None:
        return text
    return text.translate(_CONTROL_MAP)


#: Largest JSON size of the unknown fields kept with an article, in bytes (UTF-8).
EXTRA_MAX_BYTES = 64 * 1024
#: Known string fields a number is turned into text for (unambiguous: ``"source": 12345``).
_NUMBER_AS_TEXT = ("id", "source", "title", "category")


def _split_extra(obj: dict) -> tuple[dict, dict, list[str]]:
    """``(known fields, unknown fields kept, names of unknown fields left out)`` of a raw object.

    Producers add their own fields (``author``, ``tags``, ``image_url``...): they are kept, in
    order, while their JSON stays within :data:`EXTRA_MAX_BYTES`; the others are named."""
    known, extra, dropped, size = {}, {}, [], 2
    for key, value in obj.items():
        if key in RawArticle.model_fields:
            known[key] = value
            continue
        n = len(json.dumps({key: value}, ensure_ascii=False).encode()) - 1
        if size + n > EXTRA_MAX_BYTES:
            dropped.append(key)
            continue
        extra[key] = value
        size += n
    return known, extra, dropped


def _coerce_numbers(known: dict) -> dict:
    """A number where a text field is expected becomes its text (``12345`` → ``"12345"``)."""
    return {k: (str(v) if k in _NUMBER_AS_TEXT and isinstance(v, (int, float)) and not isinstance(v, bool) else v)
            for k, v in known.items()}


def _clean_fields(raw: RawArticle) -> RawArticle:
    """``raw`` with :func:`_clean_controls` applied to every string field."""
    update = {
        name: _clean_controls(value)
        for name, value in raw
        if isinstance(value, str) and _CONTROL_RE.search(value) is not None
    }
    return raw.model_copy(update=update) if update else raw


def _headline_as_title(story):
    """A title-less page whose first line is a headline followed by text: that line is the
    title and leaves the body (``(title or None, story)``)."""
    lines = story.body.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not is_headline_like(lines[first]):
        return None, story
    rest = "\n".join(lines[first + 1:]).strip("\n")
    if not rest.strip():
        return None, story
    return ids.collapse_ws(lines[first]), replace(story, body=rest)


def _clean_title(title: str | None) -> str | None:
    if title is None:
        return None
    if "<" in title or "&" in title:
        title = html_to_text(title)
    title = ids.collapse_ws(title)
    return title or None


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def process_raw(
    value: bytes,
    *,
    ingested_at: datetime,
    default_source: str | None = None,
    max_body_chars: int = DEFAULT_MAX_BODY_CHARS,
    on_warning: Callable[[str, str], None] | None = None,
) -> list[IngestedArticle]:
    """Validate and split one raw message.

    ``value``: the Kafka message value (bytes; a ``str`` is taken as already decoded).
    ``ingested_at``: when the gate received it (naive means UTC; stored in UTC; also the base
    for relative dates). ``default_source``: used when the message has no ``source``.
    ``max_body_chars``: the largest ``body`` accepted, in characters. ``on_warning(code,
    message)``: told about fixable problems that do not reject the message (``unparsed_date``).

    Returns one ``IngestedArticle`` per story, main story first (never an empty list).
    Raises ``Rejected`` (see the module docstring for each ``error_type``).
    """
    ingested_at = _as_utc(ingested_at)

    if isinstance(value, str):
        text = value
    else:
        value = bytes(value)
        limit_bytes = 6 * max_body_chars + 65_536
        if len(value) > limit_bytes:
            raise Rejected(
                "too_large",
                f"the message is {len(value):,} bytes, more than any article with a body of at most "
                f"{max_body_chars:,} characters can take; split the article or raise the ingest limit",
            )
        text = _decode(value)

    obj = _parse_json(text)
    if not isinstance(obj, dict):
        kind = _JSON_KIND.get(type(obj), type(obj).__name__)
        extra = f" with {len(obj)} items" if isinstance(obj, list) else ""
        raise Rejected(
            "not_an_object",
            f"expected a JSON object with at least a 'body' field, got a JSON {kind}{extra}; "
            "send each article as its own message",
        )

    known, extra, dropped = _split_extra(obj)
    if dropped:
        msg = (f"unknown fields over the {EXTRA_MAX_BYTES:,}-byte limit for kept extras were left out: "
               f"{', '.join(repr(k) for k in dropped[:10])}")
        logger.warning(msg)
        if on_warning is not None:
            on_warning("extra_truncated", msg)
    try:
        raw = RawArticle.model_validate(_coerce_numbers(known))
    except ValidationError as e:
        raise Rejected("schema", _schema_message(e)) from None
    raw = _clean_fields(raw)
    if raw.schema_version != SCHEMA_VERSION:
        raise Rejected(
            "schema",
            f"'schema_version' {raw.schema_version} is not supported by this ingest (it reads "
            f"version {SCHEMA_VERSION}); send version {SCHEMA_VERSION} or omit the field",
        )

    if len(raw.body) > max_body_chars:
        raise Rejected(
            "too_large",
            f"'body' has {len(raw.body):,} characters, more than the limit of {max_body_chars:,}; "
            "split the article or raise the ingest limit (max_body_chars)",
        )
    if not raw.body.strip():
        raise Rejected(
            "empty_body",
            "'body' is blank (only whitespace or control characters); send the article text in 'body'",
        )

    if raw.language is not None and raw.language.strip().lower().split("-")[0] not in _ARABIC_CODES:
        raise Rejected(
            "unsupported_language",
            f"the message declares 'language' {raw.language!r}; Hadath indexes Arabic news only "
            "(send Arabic text, with 'language' 'ar' or no 'language')",
        )

    body = _normalize_newlines(raw.body)
    title = _clean_title(raw.title)
    is_html = raw.content_type == "text/html" or (raw.content_type is None and looks_like_html(body))
    if is_html:
        body, page_title = parse_html(body)
        if title is None:
            title = page_title

    page_text = body
    body = strip_lines(body)
    stories, datelines = [], []
    split = split_page(body)
    for story in split:
        story_body, dateline = strip_story(story.body)
        stories.append(Story(title=story.title, body=story_body))
        datelines.append(dateline)
    bylines = read_fields(_main_part(body, split))
    main = stories[0]
    if title is None:
        title, main = _headline_as_title(main)
        stories[0] = main
    if not main.body.strip():
        what = "HTML markup and page boilerplate" if is_html else "page boilerplate (bylines, tag lines, link lists)"
        raise Rejected(
            "empty_body",
            f"no story text is left in 'body' after removing {what}; send the article text in 'body'",
        )

    text = "\n".join(s.body for s in stories)
    if not any(ch.isalpha() for ch in text):
        raise Rejected(
            "unsupported_language",
            "the body has no letters at all (only emoji, digits, punctuation, symbols or marks), so no "
            "Arabic text to index; send the article text in 'body'",
        )
    ratio = arabic_ratio(text)
    if ratio < MIN_ARABIC_RATIO:
        raise Rejected(
            "unsupported_language",
            f"the body is not Arabic: only {ratio:.0%} of its letters are Arabic script (at least "
            f"{MIN_ARABIC_RATIO:.0%} needed); Hadath indexes Arabic news only",
        )

    date_text = raw.published_at
    too_long = date_text is not None and len(date_text.strip()) > MAX_DATE_CHARS
    published_at = parse_published_at(date_text, relative_to=ingested_at)
    if (date_text is None or not date_text.strip()) and published_at is None:
        published_at = _page_date(datelines[0].date_text, page_text, ingested_at)
    if date_text is not None and date_text.strip() and published_at is None:
        why = (
            f"has {len(date_text.strip()):,} characters, more than any date ({MAX_DATE_CHARS}): "
            "send the date alone" if too_long else "is neither ISO 8601 nor a readable Arabic date"
        )
        msg = f"'published_at' {_short(date_text, 80)} {why}; the article is kept with published_at=None"
        logger.warning(msg)
        if on_warning is not None:
            on_warning("unparsed_date", msg)

    source = (raw.source if raw.source is not None else default_source) or None
    source = source.strip() or None if source else None
    url = raw.url.strip() or None if raw.url else None
    category = raw.category.strip() or None if raw.category else None

    main_id = ids.article_id(url=url, source=source, external_id=raw.id, title=title, body=main.body)
    def story_message(article_id, parent_id, story_title, body, when, story_category, dateline,
                      story_extra=None, author=None, agency=None):
        return IngestedArticle(
            article_id=article_id, parent_id=parent_id, source=source, url=url, title=story_title,
            body=body, published_at=when, ingested_at=ingested_at, language="ar",
            category=story_category, content_hash=ids.content_hash(body), extra=story_extra,
            author=author, dateline_place=dateline.place, agency=dateline.agency or agency,
        )

    author = _sent_author(extra) or bylines.author
    out = [story_message(main_id, None, title, main.body, published_at, category, datelines[0], extra or None,
                         author=author, agency=bylines.agency)]
    # embedded stories: the page does not say when they appeared, nor their category
    for position, story in enumerate(stories[1:], start=1):
        out.append(story_message(ids.embedded_id(main_id, position), main_id, story.title, story.body, None, None,
                                 datelines[position]))
    return out


def _main_part(text: str, split: list[Story]) -> str:
    """``text`` up to where its first embedded story begins (its title, else its first line):
    the main story's closing lines are read there, not the second story's."""
    if len(split) < 2:
        return text
    second = split[1]
    first_line = second.title or next((ln for ln in second.body.split("\n") if ln.strip()), "")
    cut = text.find(first_line.strip()) if first_line.strip() else -1
    return text[:cut] if cut > 0 else text


def _sent_author(extra: dict) -> str | None:
    """The producer's own ``author`` (a string) or ``authors`` (a list of strings: joined with
    "، "), kept in ``extra`` as sent and read into the ``author`` field; else ``None``."""
    value = extra.get("author", extra.get("authors"))
    if isinstance(value, str):
        return ids.collapse_ws(value) or None
    if isinstance(value, list):
        names = [ids.collapse_ws(v) for v in value if isinstance(v, str) and v.strip()]
        return "، ".join(names) or None
    return None


def _page_date(dateline_date: str | None, page_text: str, ingested_at: datetime) -> datetime | None:
    """``published_at`` read from the page when the record has none: the lead dateline's date,
    else the first date line of the page (``furniture.date_lines``: a Hijri part after the
    Gregorian one is cut off first) that :func:`parse_published_at` reads; else ``None``."""
    for text in ([dateline_date] if dateline_date else []) + date_lines(page_text)[:5]:
        for candidate in (text, _HIJRI_TAIL.sub("", text), _GREGORIAN_CORE.search(text)):
            if candidate is None:
                continue
            candidate = candidate if isinstance(candidate, str) else candidate.group()
            when = parse_published_at(candidate, relative_to=ingested_at)
            if when is not None and when <= ingested_at:
                return when
    return None


_HIJRI_TAIL = re.compile(r"[0-9٠-٩]{1,2}\s+(?:محرم|صفر|ربيع|جمادى|رجب|شعبان|رمضان|شوال|ذو|ذي)\s.*$")
_GREGORIAN_CORE = re.compile(r"[0-9٠-٩]{1,2}\s*[/\-.]\s*[0-9٠-٩]{1,2}\s*[/\-.]\s*[0-9٠-٩]{4}"
                             r"|[0-9٠-٩]{1,2}\s+\S+\s*[،,]?\s+[0-9٠-٩]{4}")

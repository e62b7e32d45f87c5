"""Parse a producer's ``published_at`` string into an aware ``datetime``.

Order of attempts (first success wins):

1. ISO 8601 (``datetime.fromisoformat``: ``2024-01-04``, ``2024-01-04T10:30:00+03:00``,
   ``...Z``). A value without an offset is taken as UTC.
2. An Arabic date through ``dateparser`` with ``languages=['ar']``, day-month-year order,
   relative expressions ("أمس", "منذ 3 ساعات") resolved against ``relative_to`` (the ingest
   time, so the result is deterministic for a given message), dates without a year taken in the
   past. Before that, Levantine/Iraqi month names ("كانون الثاني", "شباط", "أيار", ...) and
   Maghrebi ones ("جانفي", "فيفري", "أوت", ...) are mapped to the Egyptian/Gulf names
   dateparser knows, doubled forms ("يناير/كانون الثاني") are reduced to one, and
   Arabic-Indic/Persian digits become ASCII.

A string longer than ``MAX_DATE_CHARS`` (200) characters is refused without being read: no
date is written so long, and dateparser's time grows with the length (a 100,000-character
value took seconds). A string of digits alone (``"12"``) is refused: dateparser would read it as a day of the
current month, which is a guess, not a date. Anything unparsed gives ``None``; the caller
decides what that means (ingest keeps the article, ``published_at=None``).
All results are timezone-aware and converted to UTC.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from shared.arabic import DIGIT_FOLDS, normalize
from shared.months import GREGORIAN_MONTH_NAMES

__all__ = ["parse_published_at", "MAX_DATE_CHARS"]

#: The longest ``published_at`` (characters, surrounding whitespace aside) that is parsed.
MAX_DATE_CHARS = 200



def _tolerant(name: str) -> str:
    """Regex for a month name as written: any alef form for an alef, ة or ه, spaces free."""
    out = []
    for ch in normalize(name):
        out.append({"ا": "[اأإآ]", "ه": "[هة]", "ي": "[يى]", " ": r"\s+"}.get(ch, re.escape(ch)))
    return "".join(out)


# Every other name of a month -> the Egyptian/Gulf name dateparser's Arabic locale reads
# (the first of each month in :data:`shared.months.GREGORIAN_MONTH_NAMES`), longest first.
_MONTH_SYNONYMS: list[tuple[str, str]] = sorted(
    ((_tolerant(n), names[0]) for names in GREGORIAN_MONTH_NAMES.values() for n in names[1:]
     if normalize(n) != normalize(names[0])),
    key=lambda pair: -len(pair[0]))
_MONTH_RES = [(re.compile(rf"(?<!\w){pat}(?!\w)"), repl) for pat, repl in _MONTH_SYNONYMS]
_DOUBLED = re.compile(r"(?<!\w)(\w+)\s*/\s*\1(?!\w)")
_ONLY_DIGITS = re.compile(r"^[\d\s./\-:]+$")
_ISO_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _parse_iso(text: str) -> datetime | None:
    if not _ISO_LIKE.match(text):
        return None
    try:
        return _as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _prepare_arabic(text: str) -> str:
    text = text.translate(DIGIT_FOLDS)
    for pattern, repl in _MONTH_RES:
        text = pattern.sub(repl, text)
    text = _DOUBLED.sub(r"\1", text)
    return " ".join(text.split())


def parse_published_at(text: str | None, *, relative_to: datetime) -> datetime | None:
    """Return the UTC ``datetime`` that ``text`` names, or ``None`` when it names none.

    ``text``: ISO 8601 or a written (Arabic) date, at most ``MAX_DATE_CHARS`` characters (a
    longer one gives ``None``); ``relative_to``: the reference time for relative expressions
    (naive means UTC). Never raises on bad input.
    """
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > MAX_DATE_CHARS:
        return None
    iso = _parse_iso(text)
    if iso is not None:
        return iso
    prepared = _prepare_arabic(text)
    iso = _parse_iso(prepared)
    if iso is not None:
        return iso
    if _ONLY_DIGITS.match(prepared) and not re.search(r"\d{4}", prepared):
        return None
    import dateparser  # imported lazily: it takes ~0.3 s to load its locale data

    base = _as_utc(relative_to).replace(tzinfo=None)
    try:
        parsed = dateparser.parse(
            prepared,
            languages=["ar"],
            settings={
                "TIMEZONE": "UTC",
                "TO_TIMEZONE": "UTC",
                "RETURN_AS_TIMEZONE_AWARE": True,
                "RELATIVE_BASE": base,
                "PREFER_DATES_FROM": "past",
                "DATE_ORDER": "DMY",
            },
        )
    except Exception:  # dateparser raises assorted errors on odd input; treat as unparsed
        return None
    return _as_utc(parsed) if parsed is not None else None

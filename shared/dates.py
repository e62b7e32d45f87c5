"""Arabic date expressions -> ISO 8601 values (``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``).

:func:`find_dates` returns :class:`~shared.schemas.DateMention` objects whose ``start``/``end``
index the ORIGINAL text (``text[start:end] == mention.text``). Matching runs on a folded copy of
the text of the same length (:func:`shared.arabic.fold_same_length`: the normalization table's
one-for-one entries, e.g. alef forms -> ا, ى -> ي, ة -> ه, Arabic-Indic ٠-٩ and Persian ۰-۹
digits -> 0-9), and every pattern letter may be followed by diacritics or tatweel, so offsets
never shift. Month names come from the one month table, :mod:`shared.months`.

Rules (each documented where it is implemented):

* **Gregorian month names** in all regional series — Egyptian/Gulf (يناير…ديسمبر), Maghrebi
  (جانفي فيفري مارس أفريل ماي جوان جويلية أوت, Moroccan غشت شتنبر نونبر دجنبر) and Levantine/Iraqi
  Syriac (كانون الثاني شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين الأول تشرين الثاني كانون
  الأول) — with an optional day (digits or an ordinal word: "السابع من أكتوبر"), an optional
  second name ("4 كانون الثاني/يناير 2024"), an optional year ("يناير 2020", "يناير من العام
  2020", "2020م") and an optional leading weekday (one mention: "الخميس 4 يناير 2024").
* Names that are also common words or names (مارس "practised", ماي "May" the surname, آب
  "father", أوت, جوان, نيسان "Nissan") count only with a day, a year, a modifier or "شهر"
  (مارس also after في/منذ/خلال/حتى).
* **Modifiers**: منتصف -> the 15th (``YYYY-MM-15``); بداية/مطلع/أوائل/مستهل and
  نهاية/أواخر/أواخر are ranges, so the value stays month-level ``YYYY-MM`` (never more precise
  than the text). With a year only ("نهاية العام 2021") the value is the year.
* **A month without a year** is the most recent such month not after ``published_at``
  (month-level comparison: "7 أكتوبر" published 2024-01-04 -> 2023-10-07; "25 يناير" published
  2024-01-04 -> 2024-01-25). A following الماضي/الفائت/المنصرم means the last such month
  *before* the publication month ("مارس الماضي" published in March -> last year's),
  المقبل/القادم the next one *after* it ("مايو المقبل" published in March -> this May, "مارس
  المقبل" -> next year's), الجاري/الحالي this year's; the word is part of the mention
  ("يناير من العام الماضي" likewise). Without ``published_at`` it is not reported.
* **Weekdays** (الخميس, يوم الخميس) -> the most recent such day on or before ``published_at``;
  with الماضي/الفائت/المنصرم strictly before, with المقبل/القادم strictly after.
* **Relative words**: اليوم (not "اليوم التالي" / "اليوم العالمي" / "اليوم الأول"…: not before
  an ordinal, a nisba adjective, الأخير/السابق or الذي/التي), أمس/البارحة -1, أمس الأول/أول أمس/أول من أمس -2, غداً -1 day
  ahead (bare غدا only before a weekday or punctuation: غدا is also the verb "became"),
  بعد غد +2; an attached weekday is part of the mention ("أمس الخميس", "اليوم (الأحد)"), and
  when it is a day off the relative reading it names the day (a page dated a day late: "اليوم
  الأحد" published on Monday is Sunday). All need ``published_at``.
* **Years**: "العام 2014", "عام 2021", "سنة 2019", "لعام 2021" (1900–2100) -> ``YYYY``;
  "العام الماضي/المقبل/الجاري/الحالي", "هذا العام" -> relative to ``published_at``. Bare
  numbers are never read as years.
* **Numeric dates**: ``D/M/YYYY``, ``D-M-YYYY``, ``D.M.YYYY`` (Arabic order: day first) and
  ISO ``YYYY-MM-DD``.
* **Hijri dates** ("15 رمضان 1445 هـ") need a Hijri year (1300–1500) and are converted with
  ``hijridate`` (Umm al-Qura calendar) to ``YYYY-MM-DD``; a Hijri month without a day gives the
  Gregorian month of its 15th.
* Overlaps: the longest match wins (then the earliest).
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta

from shared.arabic import fold_same_length
from shared.months import GREGORIAN_MONTH_NAMES, HIJRI_MONTH_NAMES
from shared.schemas import DateMention

__all__ = ["find_dates", "find_weekdays", "find_upcoming_days", "MONTHS", "HIJRI_MONTHS"]

# ---------------------------------------------------------------------------------------------
# folding (one char -> one char, so offsets are the original text's)
_D = "[\u0610-\u061a\u064b-\u065f\u0670\u0640]*"  # diacritics / tatweel after a letter
_W = r"[^\W_]"


def _fold(text: str) -> str:
    return fold_same_length(text)


def _pat(word: str) -> str:
    """Regex for a (multi-)word, tolerant of diacritics and tatweel after every letter."""
    parts = []
    for w in _fold(word).split():
        parts.append("".join(re.escape(ch) + _D for ch in w))
    return r"\s+".join(parts)


def _alt(words) -> str:
    return "(?:" + "|".join(_pat(w) for w in sorted(words, key=len, reverse=True)) + ")"


#: Gregorian month names, all regional series (folded spelling -> month number), from
#: :data:`shared.months.GREGORIAN_MONTH_NAMES`.
MONTHS: dict[str, int] = {_fold(n): m for m, names in GREGORIAN_MONTH_NAMES.items() for n in names}

#: Month names that are also common words/names: need a day, year, modifier or "شهر".
_STRICT_MONTHS = {_fold(w) for w in ("مارس", "ماي", "آب", "أوت", "جوان", "نيسان")}
_MARCH = _fold("مارس")

#: Hijri month names (folded) -> month number, from :data:`shared.months.HIJRI_MONTH_NAMES`.
HIJRI_MONTHS: dict[str, int] = {_fold(n): m for m, names in HIJRI_MONTH_NAMES.items() for n in names}

_WEEKDAYS: dict[str, int] = {  # Python weekday(): Monday = 0
    _fold("الأحد"): 6, _fold("الاثنين"): 0, _fold("الإثنين"): 0, _fold("الثلاثاء"): 1,
    _fold("الأربعاء"): 2, _fold("الخميس"): 3, _fold("الجمعة"): 4, _fold("السبت"): 5,
}

_MID = {_fold(w) for w in ("منتصف", "أواسط")}
_MODS = ["منتصف", "أواسط", "بداية", "بدايات", "مطلع", "أوائل", "مستهل", "نهاية", "أواخر", "ختام"]

_ORDINALS = {
    "الأول": 1, "الثاني": 2, "الثالث": 3, "الرابع": 4, "الخامس": 5, "السادس": 6,
    "السابع": 7, "الثامن": 8, "التاسع": 9, "العاشر": 10, "الحادي عشر": 11,
    "الثاني عشر": 12, "الثالث عشر": 13, "الرابع عشر": 14, "الخامس عشر": 15,
    "السادس عشر": 16, "السابع عشر": 17, "الثامن عشر": 18, "التاسع عشر": 19, "العشرين": 20,
    "الحادي والعشرين": 21, "الثاني والعشرين": 22, "الثالث والعشرين": 23,
    "الرابع والعشرين": 24, "الخامس والعشرين": 25, "السادس والعشرين": 26,
    "السابع والعشرين": 27, "الثامن والعشرين": 28, "التاسع والعشرين": 29, "الثلاثين": 30,
    "الحادي والثلاثين": 31,
}
_ORD_FOLDED = {normal: n for normal, n in ((" ".join(_fold(k).split()), v) for k, v in _ORDINALS.items())}

_MONTH_RE = _alt(MONTHS)
_HMONTH_RE = _alt(HIJRI_MONTHS)
_WD_RE = _alt(_WEEKDAYS)
_MOD_RE = _alt(_MODS)
_ORD_RE = _alt(_ORDINALS)
_SHAHR = _pat("شهر")
_YEAR_CUE = _alt(["العام", "عام", "لعام", "للعام", "بعام", "سنة", "السنة", "لسنة"])
_PROCLITIC = "(?:[وفبل](?=" + _W + "))?"  # a conjunction/preposition glued to the mention
_B = r"(?<![^\W_])"  # not inside a word (nor after a digit)
_E = r"(?![^\W_])"

_PAST = {_fold(w) for w in ("الماضي", "الفائت", "المنصرم")}
_NEXT = {_fold(w) for w in ("المقبل", "القادم")}
_CURRENT = {_fold(w) for w in ("الجاري", "الحالي")}
_DIRS = sorted(_PAST | _NEXT | _CURRENT)

_GREG = re.compile(
    _B + _PROCLITIC + r"(?P<core>"
    rf"(?:(?P<wd>{_WD_RE})\s*[,،]?\s*)?"
    rf"(?:(?P<mod>{_MOD_RE})\s+)?"
    rf"(?:(?P<day>\d{{1,2}})\s+(?:{_pat('من')}\s+)?|(?P<ord>{_ORD_RE})\s+{_pat('من')}\s+)?"
    rf"(?P<shahr>{_SHAHR}\s+)?"
    rf"(?P<month>{_MONTH_RE})"
    rf"(?:(?:\s*[/(]\s*|\s+)(?P<month2>{_MONTH_RE})\s*\)?)?"
    rf"(?:\s*[,،]?\s*(?:{_pat('من')}\s+)?(?:{_YEAR_CUE}\s+)?(?P<year>\d{{4}})(?:\s*{_pat('م')}{_E})?"
    rf"|\s+(?:{_pat('من')}\s+)?(?P<ycue>{_alt(['العام', 'السنة'])}\s+)?(?P<dir>{_alt(_DIRS)}))?"
    r")" + _E
)
_HIJRI = re.compile(
    _B + _PROCLITIC + r"(?P<core>"
    rf"(?:(?P<wd>{_WD_RE})\s*[,،]?\s*)?"
    rf"(?:(?P<day>\d{{1,2}})\s+(?:{_pat('من')}\s+)?)?"
    rf"(?:{_SHAHR}\s+)?(?P<month>{_HMONTH_RE})\s*[,،]?\s*(?:{_pat('من')}\s+)?(?:{_YEAR_CUE}\s+)?"
    r"(?P<year>1[345]\d\d)"
    rf"(?:\s*(?:ه{_D}[ـ-]?|{_pat('هجري')}(?:{_pat('ه')})?|{_pat('للهجرة')}){_E})?"
    r")" + _E
)
_NUMERIC = re.compile(
    r"(?<![\d/.\-])(?:(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4})"
    r"|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))(?![\d/.\-]?\d)"
)
_REL_WORDS = {
    _fold("أول من أمس"): -2, _fold("أول أمس"): -2, _fold("أمس الأول"): -2,
    _fold("بعد غد"): 2, _fold("أمس"): -1, _fold("البارحة"): -1, _fold("اليوم"): 0,
    _fold("غدا"): 1,
}
_REL = re.compile(
    _B + _PROCLITIC + r"(?P<core>"
    rf"(?P<rel>{_alt(_REL_WORDS)})"
    rf"(?:(?:\s*[(/،,]\s*|\s+)(?P<wd>{_WD_RE}))?"
    r")" + _E
)
_WEEKDAY = re.compile(
    _B + _PROCLITIC + r"(?P<core>"
    rf"(?:{_pat('يوم')}\s+)?(?P<wd>{_WD_RE})"
    rf"(?:\s+(?P<dir>{_alt(['الماضي', 'الفائت', 'المنصرم', 'المقبل', 'القادم'])}))?"
    r")" + _E
)
_YEAR = re.compile(
    _B + _PROCLITIC + r"(?P<core>"
    rf"(?:(?P<mod>{_MOD_RE})\s+)?"
    rf"(?:{_YEAR_CUE}\s+(?P<year>\d{{4}})(?:\s*{_pat('م')}{_E})?"
    rf"|(?P<this>{_pat('هذا')}\s+)?(?P<cue>{_alt(['العام', 'السنة'])})"
    rf"(?:\s+(?P<rel>{_alt(['الماضي', 'الفائت', 'المنصرم', 'المقبل', 'القادم', 'الجاري', 'الحالي'])}))?)"
    r")" + _E
)
#: After اليوم, a definite word that makes "the … day" a noun phrase rather than "today": an
#: ordinal or a nisba adjective (التالي, العالمي, الوطني, الموالي …: ending in ي, or ية for a
#: feminine noun after it), الأخير/السابق, or a relative pronoun (اليوم الذي). Any other definite
#: word is what happened today ("أعلن المجلس اليوم الشغور", "اليوم الجمعة" is a weekday).
_NOUN_PHRASE_AFTER = re.compile(
    r"\s+(?:ال" + _W + r"*ي(?:ه)?" + _E + "|" + _alt(["الأول", "الأخير", "السابق", "الذي", "التي"]) + _E
    + "|" + _ORD_RE + _E + ")"
)
#: Per pattern, a part that every one of its matches contains (a required group, outside any
#: optional or alternative part): searching for it alone is fast (its first letters are known to
#: the regex engine), and a text without it is not scanned with the slow full pattern. The
#: Gregorian pattern is left out: a month name is in nearly every article.
_NEEDS = {
    _HIJRI: re.compile(_HMONTH_RE),
    _REL: re.compile(_alt(_REL_WORDS)),
    _WEEKDAY: re.compile(_WD_RE),
    _YEAR: re.compile(_YEAR_CUE),  # both alternatives: a year cue (العام and السنة are ones)
}
_MARCH_CUES = {_fold(w) for w in ("في", "منذ", "خلال", "حتى", "شهر")}


def _prev_word(text: str, end: int) -> str | None:
    r"""The run of letters/digits (``[^\W_]``) right before the whitespace that ends at ``end``,
    or None when no letter or digit is there. Walks back from ``end``: the regex
    ``(\w+)\s*$`` searched over ``text[:end]`` did the same but tried every word of the text
    before it, once per mention (quadratic: 12,500 characters of "مارس " took a second)."""
    j = end
    while j > 0 and text[j - 1].isspace():
        j -= 1
    i = j
    while i > 0 and text[i - 1].isalnum():  # str.isalnum is re's [^\W_]
        i -= 1
    return text[i:j] if i < j else None


def _strip_marks(s: str) -> str:
    return re.sub(_D[:-1], "", s)


def _key(s: str) -> str:
    return " ".join(_strip_marks(s).split())


def _resolve_year(month: int, pub: date | None) -> int | None:
    if pub is None:
        return None
    return pub.year if month <= pub.month else pub.year - 1


def _iso(y: int, m: int | None = None, d: int | None = None) -> str:
    if m is None:
        return f"{y:04d}"
    if d is None:
        return f"{y:04d}-{m:02d}"
    return f"{y:04d}-{m:02d}-{d:02d}"


def _valid_day(y: int, m: int, d: int) -> bool:
    return 1 <= d <= calendar.monthrange(y, m)[1]


def _weekday_date(wd: int, pub: date, direction: str | None) -> date:
    back = (pub.weekday() - wd) % 7
    if direction in _PAST:
        return pub - timedelta(days=back or 7)
    if direction in ("المقبل", "القادم"):
        ahead = (wd - pub.weekday()) % 7
        return pub + timedelta(days=ahead or 7)
    return pub - timedelta(days=back)


# ---------------------------------------------------------------------------------------------
def _gregorian(m: re.Match, folded: str, pub: date | None) -> str | None:
    month_name = _key(m.group("month"))
    month = MONTHS[month_name]
    day = _day_of(m)
    year = int(m.group("year")) if m.group("year") else None
    mod = _key(m.group("mod")) if m.group("mod") else None
    if month_name in _STRICT_MONTHS and day is None and year is None and mod is None and not m.group("shahr"):
        if month_name != _MARCH:
            return None
        prev = _prev_word(folded, m.start())
        if not prev or _key(prev) not in _MARCH_CUES:
            return None
    if year is not None and not 1900 <= year <= 2100:
        return None
    if year is None:
        if pub is None:
            return None
        direction = _key(m.group("dir")) if m.group("dir") else None
        if m.group("ycue"):  # "يناير من العام الماضي": the direction qualifies the year
            year = pub.year + (-1 if direction in _PAST else 1 if direction in _NEXT else 0)
        elif direction in _PAST:  # "مارس الماضي": the last March before this month
            year = pub.year if month < pub.month else pub.year - 1
        elif direction in _NEXT:  # "مايو المقبل": the next May after this month
            year = pub.year if month > pub.month else pub.year + 1
        elif direction in _CURRENT:  # "فبراير الجاري": this year's
            year = pub.year
        else:
            year = _resolve_year(month, pub)
    if day is None and mod in _MID:
        day = 15
    if day is not None and not _valid_day(year, month, day):
        day = None
    return _iso(year, month, day)


def _day_of(m: re.Match) -> int | None:
    """The day of a :data:`_GREG` match: its digits or its ordinal word ("السابع من"), else None."""
    if m.group("ord"):
        return _ORD_FOLDED.get(_key(m.group("ord")))
    return int(m.group("day")) if m.group("day") else None


def _hijri(m: re.Match) -> str | None:
    from hijridate import Hijri

    month = HIJRI_MONTHS[_key(m.group("month"))]
    year = int(m.group("year"))
    day = int(m.group("day")) if m.group("day") else None
    try:
        g = Hijri(year, month, day or 15).to_gregorian()
    except (ValueError, OverflowError):
        return None
    return _iso(g.year, g.month, g.day if day else None)


def _numeric(m: re.Match) -> str | None:
    if m.group("iy"):
        y, mo, d = int(m.group("iy")), int(m.group("im")), int(m.group("id"))
    else:
        y, mo, d = int(m.group("y")), int(m.group("m")), int(m.group("d"))
    if not (1900 <= y <= 2100 and 1 <= mo <= 12 and _valid_day(y, mo, d)):
        return None
    return _iso(y, mo, d)


def _relative(m: re.Match, folded: str, pub: date | None) -> str | None:
    if pub is None:
        return None
    rel = _key(m.group("rel"))
    raw = m.group("rel")
    if rel == _fold("اليوم") and not m.group("wd") and _NOUN_PHRASE_AFTER.match(folded, m.end()):
        return None  # اليوم التالي / اليوم العالمي ...: a noun phrase, not "today"
    if rel == "غدا" and "\u064b" not in raw and not m.group("wd"):
        nxt = folded[m.end() : m.end() + 2].lstrip(" ")
        if nxt and nxt[0] not in ".,،؛;:!?؟)\"»\n":
            return None  # the verb غدا "became"
    day = pub + timedelta(days=_REL_WORDS[rel])
    if m.group("wd"):
        # "اليوم (الأحد)" on a page dated Monday: the weekday names the day, and a page's date is
        # often a day late (time zones, late posting). The weekday nearest to the relative day
        # wins when it is within a day of it; farther, the weekday is a typo and the word stands.
        wd = _WEEKDAYS[_key(m.group("wd"))]
        shift = (wd - day.weekday() + 3) % 7 - 3  # in -3 … 3
        if abs(shift) == 1:
            day += timedelta(days=shift)
    return day.isoformat()


def _weekday(m: re.Match, pub: date | None) -> str | None:
    if pub is None:
        return None
    wd = _WEEKDAYS[_key(m.group("wd"))]
    direction = _key(m.group("dir")) if m.group("dir") else None
    return _weekday_date(wd, pub, direction).isoformat()


def _year(m: re.Match, pub: date | None) -> str | None:
    if m.group("year"):
        y = int(m.group("year"))
        return _iso(y) if 1900 <= y <= 2100 else None
    if pub is None:
        return None
    rel = _key(m.group("rel")) if m.group("rel") else None
    if rel is None:
        # "هذا العام" is this year; a bare "العام" is not a date
        return _iso(pub.year) if m.group("this") else None
    if rel in _PAST:
        return _iso(pub.year - 1)
    if rel in ("المقبل", "القادم"):
        return _iso(pub.year + 1)
    return _iso(pub.year)


def find_dates(text: str, published_at: datetime | date | None = None) -> list[DateMention]:
    """Date expressions of ``text`` with ISO values, in text order (see the module doc)."""
    if not text:
        return []
    pub: date | None
    if isinstance(published_at, datetime):
        pub = published_at.date()
    else:
        pub = published_at
    folded = _fold(text)
    found: list[tuple[int, int, str]] = []
    for rx, fn in (
        (_HIJRI, lambda m: _hijri(m)),
        (_GREG, lambda m: _gregorian(m, folded, pub)),
        (_NUMERIC, lambda m: _numeric(m)),
        (_REL, lambda m: _relative(m, folded, pub)),
        (_WEEKDAY, lambda m: _weekday(m, pub)),
        (_YEAR, lambda m: _year(m, pub)),
    ):
        need = _NEEDS.get(rx)
        if need is not None and need.search(folded) is None:
            continue  # a part every match contains is absent: the full pattern cannot match
        for m in rx.finditer(folded):
            value = fn(m)
            if value is None:
                continue
            g = "core" if "core" in rx.groupindex else 0
            s, e = m.span(g)
            found.append((s, e, value))
    # longest first, then earliest; keep the non-overlapping ones. Mentions are never empty,
    # so "overlaps a kept one" is "covers a taken character": one byte per character keeps it
    # linear (comparing with every kept mention was quadratic in the number of mentions)
    found.sort(key=lambda f: (-(f[1] - f[0]), f[0]))
    taken: list[tuple[int, int, str]] = []
    used = bytearray(len(text))
    for s, e, v in found:
        if used.find(1, s, e) < 0:
            taken.append((s, e, v))
            used[s:e] = b"\x01" * (e - s)
    taken.sort()
    return [DateMention(text=text[s:e], value=v, start=s, end=e) for s, e, v in taken]


def find_weekdays(text: str) -> list[tuple[int, int, int]]:
    """Weekday mentions of ``text`` that name the day itself ("الجمعة", "يوم الاثنين", "مساء
    الجمعة"), not one relative to it ("الجمعة المقبل/الماضي" are left out), whether or not a
    ``published_at`` could resolve them: ``[(start, end, weekday)]`` in text order, offsets into
    ``text``, ``weekday`` as Python's ``date.weekday()`` (Monday = 0). An undated page's weekday
    is still evidence of which day its story happened on."""
    if not text:
        return []
    out = []
    for m in _WEEKDAY.finditer(_fold(text)):
        if m.group("dir"):
            continue
        s, e = m.span("core")
        out.append((s, e, _WEEKDAYS[_key(m.group("wd"))]))
    return out


def find_upcoming_days(text: str) -> list[tuple[int, int, int, int]]:
    """Days of the month the text names as upcoming ("الحادي عشر من ديسمبر المقبل", "20 مايو
    القادم"), which need no ``published_at`` to be known as ahead of the text:
    ``[(start, end, month, day)]`` in text order (offsets into ``text``)."""
    if not text:
        return []
    out = []
    for m in _GREG.finditer(_fold(text)):
        if not m.group("dir") or _key(m.group("dir")) not in _NEXT:
            continue
        day = _day_of(m)
        if day is None:
            continue
        s, e = m.span("core")
        out.append((s, e, MONTHS[_key(m.group("month"))], day))
    return out

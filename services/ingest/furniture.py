"""Page furniture out of scraped plain text (one paragraph a line), and the fields it carries.

Three passes, all generic — they read the *shape* of a line or segment (length, position,
script, separators, a small vocabulary of widget and dateline words), never an outlet's name:

``strip_lines(text) -> str`` (the whole page, before :func:`services.ingest.pages.split_page`;
the byline, source and tag lines that split the page are left for it):

- on a page mostly in Arabic letters, a line with no Arabic letter (an English tweet or caption, ``Close ad``, a bare date or time
  ``29-9-2020 | 15:53``, a temperature ``19°``, a stray ``None``) — the gate indexes Arabic;
- an image file name (``صورة.jpg``); a quoted credit alone on its line (``“الموقع”..``);
- a *date line*: a short line (≤ 12 words) that holds a date or time and little else
  (weekday and month names, Hijri months, ``م/ص/هـ``, ``منذ 3 ساعات``, at most two other words);
- a *label* line ending in ``:`` (≤ 4 words) that introduces no paragraph (``الكاتب:``,
  ``نشر بتاريخ :``);
- widget and masthead lines: comment counters (``تعليقات الزوار ( 0 )``), "read the full
  article on the site" notices, channel promotions (a short line naming Telegram, WhatsApp...),
  ``رئيس التحرير``/``رئيس مجلس الإدارة`` lines, a lone ``وكالات`` credit, ``آخر الأخبار``;
- a *headline ticker*: a long line of headlines run together (≥ 4 question marks or ``..``
  joints and no full stop followed by more text);
- inside lines: URLs (``https://...``) and embedded tweets (from the sentence end before
  ``— Name (@handle)`` through it, or a segment holding ``pic.twitter.com``).

``strip_story(body) -> (body, Dateline)`` (each story after the split):

- the *head zone* (lines before the first paragraph; a story with no paragraph keeps it): one- and two-word lines (a section or
  site name), short lines of ``X - Y`` / ``X | Y`` segments (a credit: ``مسقط - الصحيفة``),
  lines ending with ``:``, and, once a headline has been seen, short lines of ≤ 4 words (a
  credit or place line under the title);
- a short line (≤ 3 words) in the body whose text is repeated in the first line or a line
  near it (a photo caption);
- the *lead dateline* of the first paragraph: ``PLACE "AGENCY":``, ``PLACE (AGENCY) --``,
  ``PLACE DATE (AGENCY)``, ``PLACE DATE /``, ``CREDIT – `` (≤ 7 words before a dash) — cut
  from the body and read into :class:`Dateline` (place, agency, date text).

``read_fields(text) -> Bylines``: the author of a byline line (``بقلم``, ``كتب:``,
``متابعة:``, ``تحرير من طرف``...) and the agency of a source line (``المصدر: ...``), read
before the lines are dropped. Agencies are canonical names (:data:`AGENCIES`: ``أ ف ب`` →
``AFP``, ``رويترز`` → ``Reuters``...).

Measured on real pages by ``bench/bench_boilerplate.py``. Never raises; linear in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.months import GREGORIAN_MONTH_NAMES, HIJRI_MONTH_NAMES

__all__ = ["Dateline", "Bylines", "AGENCIES", "agency_name", "strip_lines", "strip_story", "read_fields",
           "date_lines"]

_AR = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc]")
_DIGITS = "0-9٠-٩۰-۹"

#: Agency names as written (folded by :func:`_fold`) → canonical name.
AGENCIES: dict[str, str] = {
    "ا ف ب": "AFP", "اف ب": "AFP", "افب": "AFP", "فرانس برس": "AFP", "وكاله فرانس برس": "AFP", "afp": "AFP",
    "رويترز": "Reuters", "وكاله رويترز": "Reuters", "reuters": "Reuters",
    "ا ب": "AP", "اسوشيتد برس": "AP", "اسوشيتدبرس": "AP", "ap": "AP",
    "د ب ا": "dpa", "dpa": "dpa",
    "ا ش ا": "MENA", "وكاله انباء الشرق الاوسط": "MENA",
    "كونا": "KUNA", "واس": "SPA", "وام": "WAM", "قنا": "QNA", "سانا": "SANA", "بترا": "Petra",
    "الاناضول": "Anadolu", "وكاله الاناضول": "Anadolu", "شينخوا": "Xinhua", "xinhua": "Xinhua",
    "ارنا": "IRNA", "irna": "IRNA", "واع": "INA", "وفا": "WAFA", "العمانيه": "ONA", "بنا": "BNA",
    "سبا": "Saba", "cnn": "CNN", "bbc": "BBC", "بي بي سي": "BBC", "سبوتنيك": "Sputnik",
    "الاناضول للانباء": "Anadolu", "ومع": "MAP", "واج": "APS", "تاس": "TASS",
}


def _fold(text: str) -> str:
    text = re.sub("[\u064b-\u0652\u0640]", "", text)  # harakat, tatweel
    text = re.sub("[أإآ]", "ا", text).replace("ة", "ه").replace("ى", "ي")
    text = re.sub(r"[\"'“”«»()\[\]،,.:/\-–—|]", " ", text)
    return " ".join(text.lower().split())


def agency_name(text: str | None) -> str | None:
    """The canonical agency (:data:`AGENCIES`) that ``text`` names whole, else ``None``."""
    if not text:
        return None
    folded = _fold(text)
    if folded in AGENCIES:
        return AGENCIES[folded]
    for part in re.split(r"\s*[/،,|و]\s+|\s+-\s+", text):  # "رويترز / أ ف ب", "كونا، واس"
        if _fold(part) in AGENCIES:
            return AGENCIES[_fold(part)]
    return None


@dataclass(frozen=True)
class Dateline:
    """A story's lead dateline, cut from its body: ``place`` (as written), ``agency``
    (canonical, :data:`AGENCIES`), ``date_text`` (the date in it, as written); each may be None."""

    place: str | None = None
    agency: str | None = None
    date_text: str | None = None


@dataclass(frozen=True)
class Bylines:
    """What a page's closing lines say: ``author`` (as written) and ``agency`` (canonical)."""

    author: str | None = None
    agency: str | None = None


# --- date lines -------------------------------------------------------------------------------

def _alt(names) -> str:
    pats = []
    for name in sorted({n for n in names}, key=len, reverse=True):
        pat = re.escape(name).replace(r"\ ", r"\s+")
        pat = re.sub("[اأإآ]", "[اأإآ]", pat)
        pats.append(pat)
    return "|".join(pats)


_MONTHS = _alt([n for ns in GREGORIAN_MONTH_NAMES.values() for n in ns]
               + [n for ns in HIJRI_MONTH_NAMES.values() for n in ns])
_WEEKDAYS = "السبت|الأحد|الاحد|الإثنين|الاثنين|الثلاثاء|الأربعاء|الاربعاء|الخميس|الجمعة"
_DATE_RE = re.compile(
    rf"[{_DIGITS}]{{1,4}}\s*[/\-.]\s*(?:[{_DIGITS}]{{1,2}}|{_MONTHS})\s*[/\-.]\s*[{_DIGITS}]{{2,4}}"
    rf"|[{_DIGITS}]{{1,2}}\s*(?:{_MONTHS})(?:\s*[،,]?\s*[{_DIGITS}]{{4}})?"
    rf"|(?:{_MONTHS})\s*[،,]?\s*[{_DIGITS}]{{4}}"
    rf"|[{_DIGITS}]{{1,2}}:[{_DIGITS}]{{2}}(?::[{_DIGITS}]{{2}})?"
    rf"|منذ\s+[{_DIGITS}]+\s+\w+"
)
_DATE_WORDS = re.compile(
    rf"^(?:{_WEEKDAYS}|{_MONTHS}|[{_DIGITS}]+|م|ص|مـ|صـ|هـ|ه|مساء[اًً]*|صباح[اًً]*|ظهر[اًً]*|"
    r"الساعة|على|في|منذ|توقيت|بتوقيت|تاريخ|بتاريخ|النشر|نشر|آخر|اخر|تحديث|التحديث|ساعة|ساعات|"
    r"دقيقة|دقائق|يوم|أيام|ايام|أسبوع|شهر|أشهر|اشهر|سنة|am|pm|gmt|utc)$",
    re.IGNORECASE,
)


def _is_date_line(s: str) -> bool:
    """A short line that holds a date or time and little else (see module doc)."""
    if len(s) > 90 or not _DATE_RE.search(s):
        return False
    rest = _DATE_RE.sub(" ", s)
    words = [w for w in re.split(r"[\s/|،,\-–—:()\[\]]+", rest) if w.strip(".")]
    if len(s.split()) > 14:
        return False
    others = [w for w in words if not _DATE_WORDS.match(w.strip("."))]
    return len(others) <= 2


_LATEST_RE = re.compile(r"^\s*(?:آخر|اخر|أخر)\s+(?:الأخبار|الاخبار|الأنباء|المستجدات|التحديثات)\s*$")
_MASTHEAD_RE = re.compile(r"رئيس\s+(?:التحرير|مجلس\s+(?:الإدارة|الادارة))|المدير\s+العام|جميع\s+الحقوق")


def _is_masthead(s: str) -> bool:
    """A line of the site's header: masthead credits (رئيس التحرير … in a short line), an
    "آخر الأخبار" label, or a ticker of headlines."""
    return bool(_LATEST_RE.match(s) or (_words(s) <= 12 and _MASTHEAD_RE.search(s))) or _is_ticker(s)


def date_lines(text: str) -> list[str]:
    """The date lines of ``text`` (see :func:`_is_date_line`), in order: candidates for
    ``published_at`` when the record has none. A date line beside a masthead line, an "آخر
    الأخبار" label or a headline ticker (the line before or after it) is left out: that is the
    site's clock in its header ("today" when the page was scraped), not the story's date."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    out = []
    for i, line in enumerate(lines):
        if not _is_date_line(line):
            continue
        near = lines[max(0, i - 1):i] + lines[i + 1:i + 2]
        if any(_is_masthead(n) for n in near):
            continue
        out.append(line)
    return out


# --- whole-page lines -------------------------------------------------------------------------

_URL_RE = re.compile(r"(?:https?://|www\.)[A-Za-z0-9./_\-%?=&#:~+@!]+")
_TWEET_END_RE = re.compile(
    r"[—–-]\s*[^\n—–()]{1,60}?\s*\(@\w{1,30}\)"
    r"(?:\s*(?:[A-Z][a-z]+\.?\s+\d{1,2},\s+\d{4}|[0-9٠-٩]{1,2}\s+\w+\s+[0-9٠-٩]{4}))?"
)
_PIC_TWITTER_RE = re.compile(r"pic\.twitter\.com/\w+")
_SENT_END_BEFORE = re.compile(r"[.!?؟\n](?=[^.!?؟\n]*$)")
_IMAGE_RE = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)\s*$", re.IGNORECASE)
_QUOTED_CREDIT_RE = re.compile(r"^[\"“”«»'‘’]\s*[^\"“”«»'‘’]{1,30}\s*[\"“”«»'‘’]\s*[.…:\-–—،]*$")
_WIDGET_RE = re.compile(
    r"^\s*(?:تعليقات(?:\s+الزوار|\s+القراء)?|التعليقات|أضف\s+تعليق|اضف\s+تعليق|اترك\s+تعليق\w*|"
    r"لقراءة\s+(?:المقال|الخبر|الموضوع)|اضغط\s+هنا|انقر\s+هنا|هذا\s+المحتوى\s+(?:مقدم|منشور)|"
    r"رئيس\s+التحرير|رئيس\s+مجلس\s+الإدارة|رئيس\s+مجلس\s+الادارة|جميع\s+الحقوق|حقوق\s+النشر|"
    r"عرض\s+المحتوى|ترتيب\s+حسب|مشاهدة\s+المزيد|عرض\s+المزيد|تحميل\s+المزيد)(?!\w)"
)
_CHANNEL_RE = re.compile(r"(?:تليغرام|تيليغرام|تلغرام|تيليجرام|تليجرام|واتساب|واتس\s+[اآ]ب|يوتيوب|"
                         r"فيسبوك|فيس\s+بوك|إنستغرام|انستغرام|تويتر|قناة|قناتنا|حسابنا|صفحتنا)")
_CHANNEL_START_RE = re.compile(r"^\s*(?:تغطية|تابع|تابعوا|تابعونا|تابعنا|انضم|انضموا|اشترك|اشتركوا|للاشتراك|"
                               r"لمتابعة|حمل|حمّل|نزل|شاهد|شاهدوا)(?!\w)")
_LONE_CREDITS = {"وكالات", "وكالات الأنباء", "متابعات", "خاص", "آخر الأخبار", "آخر الاخبار", "اخر الاخبار",
                 "أخبار عاجلة", "عاجل", "شارك الخبر", "مشاركة الخبر", "اقرأ المقال", "الرئيسية"}
_SENTENCE_END = ".!?؟…"
_CLOSERS = "\"'»”’)]}›"


def _ends_sentence(s: str) -> bool:
    end = s.strip().rstrip(_CLOSERS)
    return bool(end) and end[-1] in _SENTENCE_END


def _words(s: str) -> int:
    return len(s.split())


def _is_ticker(s: str) -> bool:
    if _words(s) < 15:
        return False
    joints = len(re.findall(r"[؟?]|\.\.", s))
    return joints >= 4 and re.search(r"(?<!\.)\.(?!\.)\s+\S", s) is None


def _cut_tweets(line: str) -> str:
    """``line`` with embedded tweets cut out (see module doc)."""
    if "(@" not in line and "pic.twitter.com" not in line:
        return line
    out, pos = [], 0
    for m in list(_TWEET_END_RE.finditer(line)) + list(_PIC_TWITTER_RE.finditer(line)):
        if m.start() < pos:
            continue
        head = line[pos:m.start()]
        cut = _SENT_END_BEFORE.search(head)
        keep = head[: cut.end()] if cut else ""
        out.append(keep + " ")
        pos = m.end()
    out.append(line[pos:])
    return "".join(out)


def _drop_line(s: str, arabic_page: bool = True) -> bool:
    """A whole line that is furniture wherever it stands (see module doc). Lines without an
    Arabic letter go only from an ``arabic_page`` (the gate's language check reads the rest)."""
    if not _AR.search(s):
        return arabic_page
    if _IMAGE_RE.search(s) and _words(s) <= 6:
        return True
    if _QUOTED_CREDIT_RE.match(s):
        return True
    if s.strip(" .:-–—|()") in _LONE_CREDITS:
        return True
    if _is_date_line(s):
        return True
    if _WIDGET_RE.match(s) and _words(s) <= 25:
        return True
    if (_CHANNEL_START_RE.match(s) or _CHANNEL_RE.search(s)) and _CHANNEL_RE.search(s) and _words(s) <= 12 \
            and not _ends_sentence(s) and _CHANNEL_START_RE.match(s):
        return True
    return _is_ticker(s)


def strip_lines(text: str) -> str:
    """``text`` without the page-wide furniture lines and segments (see module doc)."""
    lines = [_cut_tweets(_URL_RE.sub("", line)) if ("http" in line or "www." in line or "(@" in line
                                                    or "pic.twitter" in line) else line
             for line in text.split("\n")]
    letters = sum(1 for ch in text if ch.isalpha())
    arabic_page = letters > 0 and len(_AR.findall(text)) >= letters / 2
    keep: list[str] = []
    n = len(lines)
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            keep.append("")
            continue
        if _drop_line(s, arabic_page):
            continue
        if s.endswith((":", "：")) and _words(s) <= 4:
            nxt = next((lines[j].strip() for j in range(i + 1, n) if lines[j].strip()), "")
            if not nxt or (nxt.endswith((":", "：")) and _words(nxt) <= 4) or (
                    not _ends_sentence(nxt) and _words(nxt) <= 4) or _drop_line(nxt, arabic_page):
                continue  # a label introducing nothing, a value or more furniture
        keep.append(line)
    return "\n".join(keep)


# --- one story: head zone, captions, lead dateline ---------------------------------------------

_SEGMENTED_RE = re.compile(r"\s[-–—|]+\s|[-–—]\S|\S[-–—]|\||\s[-–—]+$")


def _is_paragraph(s: str) -> bool:
    return _words(s) > 22 or len(s) > 160 or (_ends_sentence(s) and _words(s) >= 5) or s.rstrip().endswith("،")


_AGENCY_GROUP = r"[\"“”«(]\s*(?P<agency>[^\"“”«»()]{1,30}?)\s*[\"“”»)]"
_LEAD_RES = [
    # بغداد "أ ف ب":   /   دبي، الإمارات (CNN) --   /   تونس 25 يوليو 2021 (شينخوا)
    re.compile(rf"^\s*(?P<pre>[^\n\"“”«»().!?؟:]{{1,60}}?)\s*{_AGENCY_GROUP}\s*(?P<sep>--|[-–—:/])?\s*"),
    # الجزائر 2 أبريل 2019 /     CREDIT – text     PLACE - NAME - text
    re.compile(r"^\s*(?P<pre>[^\n\"“”«»().!?؟:]{1,70}?)\s*(?P<sep>--|\s[-–—/]|[-–—/]\s)\s*(?=\S)"),
]


def _lead_dateline(line: str) -> tuple[str, Dateline] | None:
    """``(rest of line, Dateline)`` when ``line`` opens with a dateline, else ``None``."""
    m = _LEAD_RES[0].match(line)
    if m:
        pre, agency_text, sep = m.group("pre").strip(), m.group("agency"), m.group("sep")
        agency = agency_name(agency_text)
        has_date = bool(_DATE_RE.search(pre))
        quoted = m.group(0).lstrip()[len(m.group("pre")):].lstrip()[:1] in "\"“”«"
        if _words(pre) <= 6 and (agency or (has_date and sep is None) or sep in ("--", "–", "—")
                                 or (quoted and sep == ":")):
            return line[m.end():], _dateline(pre, agency)
    m = _LEAD_RES[1].match(line)
    if m:
        pre = m.group("pre").strip()
        # the last dash among the first 7 words: "PLACE - NAME - text"
        more = re.match(r"^\s*(?P<pre>[^\n\"“”«»().!?؟:]{1,70}?)\s*(?:--|\s[-–—]|[-–—]\s)\s*(?=\S)",
                        line[m.end():])
        end = m.end()
        if more and _words(pre) + _words(more.group("pre")) <= 6:
            end += more.end()
            pre = pre + " - " + more.group("pre").strip()
        sep = m.group("sep").strip()
        # "PLACE DATE /": the slash right after the year (not "مايو/ أيار" inside a sentence)
        slash_ok = sep != "/" or re.search(rf"[{_DIGITS}]{{4}}$", pre) is not None
        if _words(pre) <= 7 and slash_ok and _words(line[end:]) >= 4:
            return line[end:], _dateline(pre, None)
    return None


_OUTLET_WORDS = re.compile(r"(?:نيوز|بوست|برس|الدولية|الإخبارية|الاخبارية|موقع|شبكة|وكالة|صحيفة|جريدة|"
                           r"قناة|خاص|متابعات|[0-9]+|news|post|press)(?!\w)", re.IGNORECASE)


def _dateline(pre: str, agency: str | None) -> Dateline:
    date = _DATE_RE.search(pre)
    place_part = pre[: date.start()] if date else pre
    place = re.split(r"\s*[،,]\s*|\s+[-–—|]\s*", place_part.strip())[0].strip(" -–—|/") or None
    # a dateline without agency or date is "PLACE -" or a credit ("SITE –"): a place is one or
    # two words and no outlet word
    if agency is None and date is None and (_words(place_part) > 2 or _OUTLET_WORDS.search(place_part)):
        place = None
    return Dateline(place=place if place and _words(place) <= 3 else None, agency=agency,
                    date_text=pre[date.start():].strip(" -–—/،,") if date else None)


def strip_story(body: str) -> tuple[str, Dateline]:
    """One story's ``body`` without its head-zone lines, repeated captions and lead dateline,
    and that dateline (see module doc); an empty ``Dateline`` when there is none."""
    lines = body.split("\n")
    out: list[str] = []
    head, seen_headline, dateline = True, False, Dateline()
    stripped = [ln.strip() for ln in lines]
    counts: dict[str, int] = {}
    for s in stripped:
        if s:
            counts[s] = counts.get(s, 0) + 1
    first = next((k for k, s in enumerate(stripped) if s), 0)  # the headline, when there is one
    last_paragraph = max((k for k, s in enumerate(stripped) if s and _is_paragraph(s)), default=-1)
    for k, (s, line) in enumerate(zip(stripped, lines)):
        if not s:
            out.append("")
            continue
        if head:
            lead = _lead_dateline(line) if _words(s) >= 8 else None
            if _is_paragraph(s) or (lead is not None and "|" not in s):
                head = False
                lead = _lead_dateline(line)
                if lead is not None:
                    line, dateline = lead
                out.append(line)
                continue
            w = _words(s)
            if k > last_paragraph:  # no paragraph after it: the story is all head, keep it
                out.append(line)
                continue
            if w <= 2 or (s.endswith((":", "：")) and w <= 8) or (
                    _SEGMENTED_RE.search(s) and w <= (12 if "|" in s else 5)) or (
                    seen_headline and w <= 4):
                continue
            seen_headline = seen_headline or w >= 5
            out.append(line)
            continue
        # a photo caption: a short line repeated inside another line of the story
        if _words(s) <= 3 and not _ends_sentence(s) and (counts[s] > 1 or any(
                s in stripped[j] for j in (*range(max(0, k - 4), k), *range(k + 1, min(k + 5, len(stripped)))))
                or s in stripped[first]):
            continue
        out.append(line)
    text = "\n".join(out).strip("\n")
    return re.sub(r"\n[ \t]*(\n[ \t]*)+\n", "\n\n", text), dateline


# --- fields of closing lines -------------------------------------------------------------------

_BYLINE_FIELD_RE = re.compile(
    r"^\s*(?:بقلم|كتب|كتبت|كتابة|إعداد|اعداد|تحرير|متابعة|تقرير|ترجمة|الكاتب|المحرر)"
    r"(?:\s+من\s+طرف)?\s*[:：\-–]?\s*(?P<name>[^\n:]{2,60}?)\s*$"
)
_SOURCE_FIELD_RE = re.compile(r"^\s*(?:المصدر|المصادر|مصدر\s+الخبر)\s*[:：\-–]?\s*(?P<name>[^\n]{1,60}?)\s*$")


def read_fields(text: str) -> Bylines:
    """The first byline's author and the first agency named in a source line of ``text``."""
    author = agency = None
    for line in text.split("\n"):
        s = line.strip()
        if not s or len(s) > 90:
            continue
        if author is None:
            m = _BYLINE_FIELD_RE.match(s)
            if m and _words(s) <= 9 and not _ends_sentence(s):
                name = re.split(r"\s*/\s*|\s+-\s+", m.group("name"))[0].strip(" -–—:")
                if name and _AR.search(name) or re.search(r"[A-Za-z]", name or ""):
                    author = name
        if agency is None:
            m = _SOURCE_FIELD_RE.match(s)
            if m:
                name = re.split(r"\s+(?:الوسوم|كلمات\s+دلالية)", m.group("name"))[0]
                agency = agency_name(name)
            elif _words(s) <= 3:
                agency = agency_name(s.strip("()-–— "))
    return Bylines(author=author, agency=agency)

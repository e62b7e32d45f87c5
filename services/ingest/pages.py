"""Split a scraped page (plain text, one paragraph a line) into its stories, boilerplate removed.

``split_page(text) -> list[Story]``: the main story first, then each embedded story in page
order. Never raises; a text with no page furniture comes back as one story, unchanged except
for surrounding whitespace.

How lines are read (each rule is about a whole line, so running text is never cut):

- *closing lines* (a story's signature, dropped): a byline ("بقلم ...", "كتب: ..."), a
  source line ("المصدر: ...", "المصدر كونا", "المصدر كونا الوسوم..." glued to a tag line), a
  tag line ("كلمات دلالية: ...", "الوسوم ...");
- *chrome lines* (dropped): short share/follow/print lines ("شارك", "تابعونا على ...",
  "طباعة"), a lone "إعلان", lines made only of social network names;
- *related lists* (dropped): a header ("مقالات مشابهة", "اقرأ المزيد", "مواضيع ذات صلة",
  "مقالات ذات صلة", "أخبار ذات صلة", "قد يهمك", "الأكثر قراءة", ...) and the list lines under
  it: bulleted lines (•, -, ·, ▪, *) and headline-like lines (short, no sentence-final
  punctuation), blank lines between them allowed; the list ends at the first paragraph-like
  line. A header followed on the same line by a headline ("اقرأ المزيد... عنوان") is one link:
  that line alone is dropped;
- *read-also markers* ("إقرأ أيضاً", "اقرأ أيضا", "اقرأ ايضاً", "إقرأ أيضا في بي بي سي:",
  followed by ":", "|", "..." or nothing):

  * **an embedded story** when the story before it has text and the marker comes right after
    a closing line (that story has signed off: byline, source, tag line or related list,
    blank and chrome lines skipped; a byline at the top of a page is not enough) — that is how a scraped page carries a second article. Its title is the headline
    on the marker line, else the next non-blank line when that line is headline-like (a
    paragraph-like line there means the story has no title and that line opens its body). Its
    body runs up to the next closing line, related list or read-also marker, and must contain
    at least one paragraph (a line of text that is not headline-like), else the block is a
    list of links (below);
  * **an inline link** otherwise (a read-also line inside running text, as real news sites
    publish them): the marker line is dropped, and when the headline is not on the marker line
    itself, up to 8 headline-like or bulleted lines right after it are dropped too; the story
    goes on after them. A read-also marker inside running text never starts a new story, so a
    real article is never cut in two.

Text found after a story's closing lines (other than a new read-also block) stays with that
story: nothing is thrown away except the lines named above. Bodies keep their paragraph breaks
(runs of blank lines become one blank line); lines are otherwise kept as they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Story", "split_page", "is_headline_like"]


@dataclass(frozen=True)
class Story:
    """One story of a page: ``title`` (``None`` for the main story: the message's title is
    used) and ``body`` (boilerplate removed; may be empty when the page had no text)."""

    title: str | None
    body: str


_BLANK, _TEXT, _BULLET, _READ_ALSO, _RELATED, _BYLINE, _SOURCE, _TAGS, _CHROME = range(9)
_CLOSING = {_BYLINE, _SOURCE, _TAGS}

_LEAD = r"^[\s\u200e\u200f\u061c\ufeff]*"
_TANWEEN = "\u064b\u064c\u064d"
_READ_ALSO_RE = re.compile(
    _LEAD + rf"([اإأآ]قر[أاء]|شاهد|طالع)\s*[اأإآ]يض[ا{_TANWEEN}]*(?!\w)(?P<rest>.*)$")
_RELATED_RE = re.compile(
    _LEAD
    + r"(مقالات\s+مشابهة|مقالات\s+ذات\s+صلة|مواضيع\s+ذات\s+صلة|مواضيع\s+مشابهة|"
    r"[أا]خبار\s+ذات\s+صلة|[أا]خبار\s+مشابهة|[اإأ]قر[أا]\s+المزيد|المزيد\s+من\s+ال[أا]خبار|"
    r"قد\s+يهمك|قد\s+يعجبك|ال[أا]كثر\s+قراءة|ال[أا]كثر\s+مشاهدة|روابط\s+ذات\s+صلة|"
    r"موضوعات\s+مقترحة|مقالات\s+مقترحة|[أا]خبار\s+مقترحة|مقترحات|"
    rf"ذات\s+صلة)(?:\s+[اأ]يض[ا{_TANWEEN}]*)?(?!\w)(?P<rest>.*)$"
)
_BYLINE_RE = re.compile(
    _LEAD + r"(بقلم(?!\w)\s*[:：\-–]?|(كتب|كتبت|[إا]عداد|تحرير|متابعة|تقرير|ترجمة|الكاتب|المحرر)\s*[:：\-–]|"
    r"(تحرير|كتابة|[إا]عداد)\s+من\s+طرف)\s*\S"
)
_SOURCE_RE = re.compile(_LEAD + r"(المصدر|المصادر|مصدر\s+الخبر)(?!\w)(?P<rest>.*)$")
_TAGS_RE = re.compile(
    _LEAD + r"(كلمات\s+البحث|كلمات\s+دلالية|الكلمات\s+الدلالية|الكلمات\s+المفتاحية|كلمات\s+مفتاحية|الوسوم|وسوم|الوسم|Tags)"
)
_CHROME_RE = re.compile(
    _LEAD + r"(شارك|شاركوا|شاركي|انشر|تابعونا|تابعنا|تابعوا|[أا]رسل\s+لصديق|للمزيد\s+تابع|"
    r"حمّ?ل\s+تطبيق)(?!\w)"
)
_CHROME_EXACT = {
    "إعلان", "اعلان", "مساحة إعلانية", "طباعة", "مشاركة", "شارك", "advertisement", "تابعنا", "تابعونا",
}
_SOCIAL_ONLY_RE = re.compile(
    r"^[\s|/•·,،\-–]*((فيسبوك|فيس\s+بوك|تويتر|واتساب|واتس\s+[اآ]ب|تيليجرام|تلغرام|تيلجرام|"
    r"لينكد\s*[إا]ن|[اإ]نستغرام|يوتيوب|بريد\s+[إا]لكتروني|facebook|twitter|whatsapp|telegram|"
    r"linkedin|instagram|youtube|email|x)[\s|/•·,،\-–]*)+$",
    re.IGNORECASE,
)
_BULLET_RE = re.compile(r"^\s*[•·▪◦●‣∙*\-–—]\s*\S")
_MAX_LINK_LINES = 8  # headline lines dropped after a bare inline read-also marker
_SENTENCE_END = ".!?؟…:;؛،"
_CLOSERS = "\"'»”’)]}›"
_LINK_PUNCT = ":：|\\-–—.…،,>»›"


def is_headline_like(line: str) -> bool:
    """A short line (≤ 160 chars, ≤ 22 words) not ending in sentence punctuation."""
    s = line.strip()
    if not s or len(s) > 160 or len(s.split()) > 22:
        return False
    end = s.rstrip(_CLOSERS)
    if not end:
        return False
    return end[-1] not in _SENTENCE_END


def _ends_sentence(s: str) -> bool:
    end = s.strip().rstrip(_CLOSERS)
    return bool(end) and end[-1] in ".!?؟…"


def _link_rest(rest: str, line: str) -> tuple[bool, str]:
    """After a marker: is this a marker line, and what headline (if any) follows on it."""
    if not rest.strip():
        return True, ""
    stripped = rest.lstrip()
    if stripped[0] in _LINK_PUNCT:
        return True, stripped.lstrip(_LINK_PUNCT + " \u00a0").strip()
    # "إقرأ أيضا في بي بي سي: عنوان"
    m = re.match(r"في\s+[^:：]{1,30}[:：](?P<head>.*)$", stripped)
    if m:
        return True, m.group("head").strip()
    if rest[0].isspace() and is_headline_like(line):
        return True, stripped.strip()
    return False, ""


def _classify(line: str) -> tuple[int, str]:
    s = line.strip()
    if not s:
        return _BLANK, ""
    words = len(s.split())
    m = _READ_ALSO_RE.match(line)
    if m:
        ok, inline = _link_rest(m.group("rest"), line)
        if ok:
            return _READ_ALSO, inline
    m = _RELATED_RE.match(line)
    if m:
        ok, inline = _link_rest(m.group("rest"), line)
        if ok:
            return _RELATED, inline
    if _BYLINE_RE.match(line) and words <= 8 and len(s) <= 80 and not _ends_sentence(s):
        return _BYLINE, ""
    m = _SOURCE_RE.match(line)
    if m:
        rest = m.group("rest")
        if ("الوسوم" in rest or "كلمات دلالية" in rest) and not _ends_sentence(s):
            return _SOURCE, ""
        if rest.lstrip()[:1] in (":", "：", "-", "–") and words <= 12 and not _ends_sentence(s):
            return _SOURCE, ""
        if words <= 4 and not _ends_sentence(s) and ":" not in s:
            return _SOURCE, ""
    if _TAGS_RE.match(line) and words <= 40 and not _ends_sentence(s):
        return _TAGS, ""
    if (
        (_CHROME_RE.match(line) and words <= 8 and not _ends_sentence(s))
        or s.strip(_LINK_PUNCT + " ").lower() in _CHROME_EXACT
        or _SOCIAL_ONLY_RE.match(s)
    ):
        return _CHROME, ""
    if _BULLET_RE.match(line):
        return _BULLET, ""
    return _TEXT, ""


def _is_list_line(kind: int, line: str) -> bool:
    return kind == _BULLET or (kind == _TEXT and is_headline_like(line))


def _finish(lines: list[str]) -> str:
    body = "\n".join(lines).strip()
    return re.sub(r"\n[ \t\u00a0]*(\n[ \t\u00a0]*)+\n", "\n\n", body)


def split_page(text: str) -> list[Story]:
    """Return the stories on ``text`` (main story first, embedded ones after, page order)."""
    lines = text.split("\n")
    kinds = [_classify(line) for line in lines]
    n = len(lines)

    def next_nonblank(j: int) -> int:
        while j < n and kinds[j][0] == _BLANK:
            j += 1
        return j

    def block_has_paragraph(j: int) -> bool:
        while j < n:
            kind = kinds[j][0]
            if kind in _CLOSING or kind in (_READ_ALSO, _RELATED):
                return False
            if kind == _TEXT and not is_headline_like(lines[j]):
                return True
            j += 1
        return False

    titles: list[str | None] = [None]
    bodies: list[list[str]] = [[]]
    last_sig = _TEXT  # kind of the last significant (non-blank, non-chrome) line seen
    # whether the current story has a non-blank line yet; kept as we go (scanning its lines at
    # every read-also marker was quadratic: 10,000 blank-separated markers took seconds)
    has_text = False
    i = 0
    while i < n:
        kind, inline = kinds[i]
        line = lines[i]
        if kind == _BLANK:
            bodies[-1].append("")
            i += 1
        elif kind == _CHROME:
            i += 1
        elif kind in _CLOSING:
            last_sig = kind
            i += 1
        elif kind == _RELATED:
            i += 1
            if not inline:  # a header: the list lines under it go too
                while i < n:
                    j = next_nonblank(i)
                    if j < n and _is_list_line(kinds[j][0], lines[j]):
                        i = j + 1
                    else:
                        break
            last_sig = _RELATED
        elif kind == _READ_ALSO:
            start = i + 1
            title: str | None = inline or None
            if title is None:
                j = next_nonblank(start)
                if j < n and kinds[j][0] == _TEXT and is_headline_like(lines[j]):
                    title, start = lines[j].strip(), j + 1
            # an embedded story needs the story before it to have text and to have signed off
            embedded = has_text and (last_sig in _CLOSING or last_sig == _RELATED)
            if embedded and block_has_paragraph(start):
                titles.append(title)
                bodies.append([])
                has_text = False
                last_sig = _TEXT
                i = start
                continue
            # an inline link: drop the marker line and, if the headline is not on it, the
            # link lines right after it
            i += 1
            if not inline:
                dropped = 0
                while dropped < _MAX_LINK_LINES:
                    j = next_nonblank(i)
                    if j < n and _is_list_line(kinds[j][0], lines[j]):
                        i = j + 1
                        dropped += 1
                    else:
                        break
                # the link's teaser: one line cut off with an ellipsis
                j = next_nonblank(i)
                if dropped and j < n and kinds[j][0] == _TEXT and lines[j].rstrip().endswith(("…", "...")):
                    i = j + 1
        else:
            bodies[-1].append(line)
            has_text = True  # kind is not _BLANK: the line has non-space text
            last_sig = kind
            i += 1

    return [Story(title=t, body=_finish(b)) for t, b in zip(titles, bodies)]

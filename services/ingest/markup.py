"""HTML detection and HTML → plain text (BeautifulSoup with the standard-library parser).

What ``html_to_text`` keeps and drops:

- dropped whole, with their text: ``script``, ``style``, ``noscript``, ``template``, ``iframe``,
  ``svg``, ``canvas``, ``head`` (its ``<title>`` is only offered as a title, see
  ``html_title``), ``nav``, ``footer``, ``aside``, ``form``, ``button``, ``select``, and any
  element whose ``class`` or ``id`` names an advertisement, share/social bar, related-links or
  comments box (tokens in ``_CHROME_TOKENS``), and HTML comments;
- entities are unescaped (``&quot;`` → ``"``); a no-break space becomes a plain space;
- block elements (``p``, ``div``, ``h1``–``h6``, ``li``, ``tr``, ``br``, ...) end a line,
  inline elements (``b``, ``a``, ``span``, ...) do not, so words are never cut apart;
- inside a line runs of whitespace become one space; empty lines are dropped; lines are
  joined with ``"\\n"`` (one paragraph a line).

Hostile markup (the parser is the standard library's ``html.parser``, which on its own takes
quadratic time on some broken input and raises on a few declarations):

- a ``<`` after the last ``>`` of the document can open no tag, so it is text: it is escaped
  before parsing (``"x <a <a"`` reads ``x <a <a``) — the parser would otherwise look for the end
  of every such "tag" up to the end of the document (25,000 ``<a`` took 6 s);
- a comment (``<!--``) or marked section (``<![CDATA[``) that is never closed is looked for
  once, not once per opener (20,000 ``<!-- >`` took 11 s);
- a marked section the parser does not know (``<![foo[``) is dropped like a bogus comment, up
  to the next ``>``, instead of failing the whole document; if the parser still rejects the
  markup, it is read as plain text (every ``<`` escaped, entities still decoded).
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, NavigableString, ParserRejectedMarkup, Tag
from bs4.builder import HTMLParserTreeBuilder
from bs4.builder._htmlparser import BeautifulSoupHTMLParser

__all__ = ["looks_like_html", "html_to_text", "html_title", "parse_html"]

_HTML_SNIFF = re.compile(
    r"<!doctype\s+html|<\s*(html|head|body|p|div|br|span|script|style|a|h[1-6]|article|section"
    r"|ul|ol|li|table|tr|td|img|strong|em|b|i|font|meta|link)(\s[^<>]*)?/?>|</\s*[a-z][a-z0-9]*\s*>",
    re.IGNORECASE,
)

_DROP_TAGS = {
    "script", "style", "noscript", "template", "iframe", "svg", "canvas", "head", "nav",
    "footer", "aside", "form", "button", "select", "object", "embed",
}
_BLOCK_TAGS = {
    "address", "article", "blockquote", "body", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "html", "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "ul", "caption",
}
_CHROME_TOKENS = {
    "ad", "ads", "advert", "advertisement", "adsbygoogle", "banner", "sponsor", "sponsored",
    "share", "sharing", "social", "social-share", "related", "related-articles", "read-more",
    "newsletter", "comments", "comment", "promo", "tags", "breadcrumb", "breadcrumbs",
}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


_MARKED_NAME = re.compile(r"[a-zA-Z][-_.a-zA-Z0-9]*")  # as _markupbase._declname_match


class _LinearHTMLParser(BeautifulSoupHTMLParser):
    """``html.parser`` for Beautiful Soup, with the closer of an unclosed comment or marked
    section searched for once: a search that found no ``-->`` (``]]>``) after position ``p``
    cannot find one after any later position, so later openers fail at once (the stock parser
    searched to the end of the document for each of them). Unknown marked sections are
    dropped up to the next ``>`` instead of raising."""

    def reset(self) -> None:
        super().reset()
        self._unclosed: dict[str, tuple[str, int]] = {}  # kind -> (rawdata, first failed i)

    def _failed_before(self, kind: str, i: int) -> bool:
        seen = self._unclosed.get(kind)
        return seen is not None and seen[0] is self.rawdata and i >= seen[1]

    def parse_comment(self, i: int, report: int = 1) -> int:
        # "<!-->" and "<!--->" are closed by themselves in newer html.parser versions
        if self.rawdata.startswith(("<!-->", "<!--->"), i) or not self._failed_before("comment", i):
            k = super().parse_comment(i, report)
            if k < 0 and not self.rawdata.startswith(("<!-->", "<!--->"), i):
                self._unclosed["comment"] = (self.rawdata, i)
            return k
        return -1

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        m = _MARKED_NAME.match(self.rawdata, i + 3)
        kind = "marked:" + (m.group().lower() if m else "")
        if self._failed_before(kind, i):
            return -1
        try:
            k = super().parse_marked_section(i, report)
        except AssertionError:  # unknown keyword or no name: a bogus comment, as browsers do
            return self.parse_bogus_comment(i, report)
        if k < 0:
            self._unclosed[kind] = (self.rawdata, i)
        return k


class _LinearTreeBuilder(HTMLParserTreeBuilder):
    """Beautiful Soup's ``html.parser`` builder with :class:`_LinearHTMLParser`."""

    def feed(self, markup, _parser_class=_LinearHTMLParser) -> None:  # noqa: ANN001
        super().feed(markup, _parser_class=_parser_class)


def _defuse_tail(markup: str) -> str:
    """``markup`` with every ``<`` after its last ``>`` escaped: none of them can open a tag."""
    cut = markup.rfind(">") + 1
    if markup.find("<", cut) < 0:
        return markup
    return markup[:cut] + markup[cut:].replace("<", "&lt;")


def _soup(markup: str) -> BeautifulSoup:
    """Parse ``markup`` (never raises on bad markup; linear in its length, see module doc)."""
    markup = _defuse_tail(markup)
    try:
        return BeautifulSoup(markup, builder=_LinearTreeBuilder())
    except ParserRejectedMarkup:
        return BeautifulSoup(markup.replace("<", "&lt;"), builder=_LinearTreeBuilder())


def looks_like_html(text: str) -> bool:
    """True when ``text`` contains HTML markup (a known tag, a closing tag or a doctype)."""
    return _HTML_SNIFF.search(text) is not None


def _is_chrome(tag: Tag) -> bool:
    attrs = tag.attrs or {}
    tokens: list[str] = []
    classes = attrs.get("class")
    if isinstance(classes, str):
        tokens.extend(classes.split())
    elif classes:
        tokens.extend(classes)
    ident = attrs.get("id")
    if isinstance(ident, str):
        tokens.append(ident)
    return any(t.lower() in _CHROME_TOKENS for t in tokens)


def _walk(root: Tag, out: list[str]) -> None:
    """Append the visible text under ``root`` to ``out`` (iterative: deep nesting is fine)."""
    stack = [iter(root.children)]
    closes_block = [False]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            if closes_block.pop():
                out.append("\n")
            continue
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            # CDATA, doctype and processing instructions are NavigableString subclasses too
            if type(child) is NavigableString:
                out.append(str(child).replace("\n", " "))
            continue
        if not isinstance(child, Tag):
            continue
        name = (child.name or "").lower()
        if name in _DROP_TAGS or _is_chrome(child):
            continue
        if name == "br":
            out.append("\n")
            continue
        block = name in _BLOCK_TAGS
        if block:
            out.append("\n")
        stack.append(iter(child.children))
        closes_block.append(block)


def _soup_title(soup: BeautifulSoup) -> str | None:
    for name in ("h1", "title"):
        tag = soup.find(name)
        if tag is not None:
            text = " ".join(tag.get_text(" ").split())
            if text:
                return text
    return None


def _soup_text(soup: BeautifulSoup) -> str:
    parts: list[str] = []
    _walk(soup, parts)
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def main_text(markup: str) -> str | None:
    """The main text of a whole HTML page found by trafilatura (Barbaresi, "Trafilatura: A Web
    Scraping Library and Command-Line Tool for Text Discovery and Extraction", ACL 2021), one
    paragraph a line; ``None`` for a fragment (no ``<body>``) or when trafilatura finds none.

    Trafilatura drops the page's menus, sidebars, footers and comment boxes by their place in
    the DOM; it keeps what sits inside the article container (a byline, a "read also" block, a
    second story), which the gate's own line rules (``furniture``, ``pages``) then handle. On
    the seed page (paragraphs in one ``<article>``) it keeps every line, so the embedded second
    story still comes out as its own document."""
    if not re.search(r"<\s*body[\s>]", markup, re.IGNORECASE):
        return None
    try:
        import trafilatura  # lazily: lxml and its data load in ~0.3 s

        text = trafilatura.extract(markup, include_comments=False, include_tables=False,
                                   include_images=False, deduplicate=False)
    except Exception:  # trafilatura raises on some broken markup; the gate's own parser reads it
        return None
    if not text or not text.strip():
        return None
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def parse_html(markup: str) -> tuple[str, str | None]:
    """``(text, title)`` of ``markup``: the text is :func:`main_text` for a whole page (falling
    back to :func:`html_to_text` when it finds none), the title :func:`html_title`; one parse
    by Beautiful Soup."""
    soup = _soup(markup)
    title = _soup_title(soup)  # before _walk: it reads <head>, which _walk skips
    return main_text(markup) or _soup_text(soup), title


def html_to_text(markup: str) -> str:
    """Return the visible text of an HTML document or fragment, one paragraph per line."""
    return _soup_text(_soup(markup))


def html_title(markup: str) -> str | None:
    """The first ``<h1>`` text, else the ``<title>`` text, whitespace collapsed; ``None`` if neither."""
    return _soup_title(_soup(markup))

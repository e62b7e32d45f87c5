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
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

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


def parse_html(markup: str) -> tuple[str, str | None]:
    """``(html_to_text(markup), html_title(markup))`` with one parse."""
    soup = BeautifulSoup(markup, "html.parser")
    title = _soup_title(soup)  # before _walk: it reads <head>, which _walk skips
    return _soup_text(soup), title


def html_to_text(markup: str) -> str:
    """Return the visible text of an HTML document or fragment, one paragraph per line."""
    return _soup_text(BeautifulSoup(markup, "html.parser"))


def html_title(markup: str) -> str | None:
    """The first ``<h1>`` text, else the ``<title>`` text, whitespace collapsed; ``None`` if neither."""
    return _soup_title(BeautifulSoup(markup, "html.parser"))

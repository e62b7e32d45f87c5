"""Stable identifiers: ``article_id`` and ``content_hash``.

All ids are the first 20 hex digits of a SHA-256 (80 bits), computed from UTF-8 text with a
kind prefix so the three rules can never collide with each other:

1. ``url:<normalized url>`` when the message has a URL (see ``normalize_url``);
2. ``ext:<source>\\x1f<id>`` when it has no URL but an external ``id`` (``source`` stripped
   and lower-cased, empty when unknown);
3. ``text:<source>\\x1f<title>\\x1f<body>`` otherwise, with whitespace collapsed in title and
   body (``collapse_ws``) — ``body`` being the main story's text after HTML and boilerplate
   removal, so the same story scraped with different page furniture gets the same id.

An embedded story's id is ``sha256("embedded:<parent id>\\x1f<position>")[:20]`` with
position 1 for the first embedded story on the page, 2 for the next, ...

``content_hash`` is the full SHA-256 hex (64 digits) of the whitespace-collapsed body.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["ID_LENGTH", "collapse_ws", "normalize_url", "content_hash", "article_id", "embedded_id"]

ID_LENGTH = 20

_TRACKING_PARAMS = {"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "ocid"}
_DEFAULT_PORTS = {"80", "443"}


def collapse_ws(text: str) -> str:
    """Runs of any Unicode whitespace → one space, ends stripped."""
    return " ".join(text.split())


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_url(url: str) -> str:
    """The form of ``url`` that identifies an article.

    Scheme dropped (http and https are the same article), host lower-cased without ``www.``
    and without a default port, percent-escapes decoded in the path (Arabic slugs are sent both
    raw and escaped), trailing slash dropped, fragment dropped, tracking parameters
    (``utm_*``, ``fbclid``, ``gclid``, ...) dropped, other query parameters sorted. A string
    without ``scheme://`` is taken as ``host/path``.
    """
    raw = url.strip()
    if "://" not in raw:
        raw = "http://" + raw.lstrip("/")
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or str(port) in _DEFAULT_PORTS else f"{host}:{port}"
    path = unquote(parts.path)
    while "//" in path:
        path = path.replace("//", "/")
    if path.endswith("/"):
        path = path.rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    ]
    query.sort()
    return urlunsplit(("", netloc, path, urlencode(query), "")).lstrip("/")


def content_hash(body: str) -> str:
    """SHA-256 hex (64 digits) of ``collapse_ws(body)``."""
    return _sha(collapse_ws(body))


def article_id(*, url: str | None, source: str | None, external_id: str | None, title: str | None, body: str) -> str:
    """The main story's id by the rules in the module docstring (20 hex digits)."""
    src = (source or "").strip().lower()
    if url and url.strip():
        return _sha("url:" + normalize_url(url))[:ID_LENGTH]
    if external_id and external_id.strip():
        return _sha(f"ext:{src}\x1f{external_id.strip()}")[:ID_LENGTH]
    return _sha(f"text:{src}\x1f{collapse_ws(title or '')}\x1f{collapse_ws(body)}")[:ID_LENGTH]


def embedded_id(parent_id: str, position: int) -> str:
    """The id of the ``position``-th (1-based) story embedded in the page of ``parent_id``."""
    return _sha(f"embedded:{parent_id}\x1f{position}")[:ID_LENGTH]

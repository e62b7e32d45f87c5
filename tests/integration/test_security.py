"""Elasticsearch refuses anonymous requests (ARCHITECTURE.md, Guarantees), locally as elsewhere.

Against the Elasticsearch of ``HADATH_ES_URL`` (started by the ``infrastructure`` fixture when
down): anonymous → 401, with the configured credentials → 200, and the generated password file
is private (mode 0600 in a 0700 folder).
"""

from __future__ import annotations

import base64
import stat
import urllib.error
import urllib.request

import pytest

from shared.es import client, es_auth, password_file

pytestmark = pytest.mark.integration


def _get(url: str, auth: tuple[str, str] | None = None) -> int:
    """HTTP status of ``GET url`` (with basic ``auth`` when given)."""
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def test_anonymous_requests_get_401(infrastructure):
    base = infrastructure.es_url.rstrip("/")
    for path in ("/", "/_cluster/health", "/_cat/indices", f"/{infrastructure.index_alias}/_search"):
        assert _get(base + path) == 401, path


def test_the_configured_password_gets_200(infrastructure):
    auth = es_auth(infrastructure)
    assert auth is not None and auth[0] == infrastructure.es_user
    assert _get(infrastructure.es_url.rstrip("/") + "/_cluster/health", auth) == 200
    assert _get(infrastructure.es_url.rstrip("/") + "/_cluster/health", (auth[0], auth[1] + "x")) == 401
    assert client(infrastructure).cluster.health()["status"] in ("yellow", "green")


def test_the_password_file_is_private(infrastructure):
    if infrastructure.es_password is not None:
        pytest.skip("HADATH_ES_PASSWORD is set: no password file is used")
    path = password_file(infrastructure)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

"""The search page without a server: its helpers, the world outline, and the page it shows when
Elasticsearch cannot be reached (a client pointed at a closed port)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from services.web import worldmap
from services.web.app import (create_app, filters_of, map_view, marked, markers, month_name, month_range,
                              page_numbers, page_url)
from shared.arabic import entity_key
from shared.settings import Settings


def test_highlights_are_escaped_and_marked():
    html = str(marked('<script>x</script> في <em>بغداد</em> & "هنا"'))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<mark>بغداد</mark>" in html and "&amp;" in html


def test_months_read_in_arabic_and_cover_the_whole_month():
    assert month_name("2025-08") == "أغسطس 2025"
    assert month_name("junk") == "junk"
    first, last = month_range("2024-02")
    assert first == datetime(2024, 2, 1, tzinfo=UTC) and (last.day, last.hour, last.minute) == (29, 23, 59)
    with pytest.raises(ValueError):
        month_range("2024")


def test_filters_and_urls_round_trip():
    filters = filters_of({"LOC": ["بغداد", "بغداد", " "], "source": ["gulf-wire"], "month": ["2025-13", "2025-08"],
                          "q": ["ignored"]})
    assert filters["LOC"] == ["بغداد"] and filters["source"] == ["gulf-wire"] and filters["month"] == ["2025-08"]
    assert filters["PERS"] == [] and "q" not in filters
    url = page_url("مياه", filters, add=("topic", "sport"), page=2)
    params = parse_qs(urlparse(url).query)
    assert params == {"q": ["مياه"], "LOC": ["بغداد"], "source": ["gulf-wire"], "topic": ["sport"],
                      "month": ["2025-08"], "page": ["2"]}
    params = parse_qs(urlparse(page_url("مياه", filters, remove=("LOC", "بغداد"), add=("month", "2025-09"))).query)
    assert "LOC" not in params and params["month"] == ["2025-09"] and "page" not in params
    assert page_url("", {}) == "/"


def test_page_numbers_keep_the_ends_and_mark_gaps():
    assert page_numbers(1, 1) == [1]
    assert page_numbers(6, 12) == [1, None, 4, 5, 6, 7, 8, None, 12]
    assert page_numbers(2, 4) == [1, 2, 3, 4]


def test_markers_merge_places_and_skip_those_without_coordinates():
    baghdad = {"name": "بغداد", "geonameid": 98182, "location": {"lat": 33.34, "lon": 44.4}}
    places = [baghdad, baghdad, {"name": "القاهرة", "geonameid": 1, "location": {"lat": 30.06, "lon": 31.25}, "count": 1},
              {"name": "مكان", "location": None}]
    got = markers(places)
    assert [(m["name"], m["count"]) for m in got] == [("بغداد", 2), ("القاهرة", 1)]
    assert got[0]["key"] == entity_key("بغداد")
    iraq = {"name": "العراق", "geonameid": 99237, "location": {"lat": 33.3406, "lon": 44.4009}}
    together = markers([baghdad, baghdad, iraq])
    assert [(m["name"], m["count"], m["key"]) for m in together] == [("بغداد، العراق", 3, entity_key("بغداد"))]
    view = map_view(got, lambda m: f"/x/{m['count']}")
    x, y, w, h = (float(v) for v in view["box"].split())
    for m in view["markers"]:
        assert x <= m["x"] <= x + w and y <= m["y"] <= y + h and m["y"] == -m["lat"]
    assert [m["href"] for m in view["markers"]] == ["/x/2", "/x/1"]
    assert map_view([], str)["box"] == "-180.00 -90.00 360.00 180.00"


def test_view_box_stays_inside_the_world_with_its_aspect_ratio():
    for points in ([(44.4, 33.3)], [(-170, 80), (175, -85)], [(179, 0)]):
        x, y, w, h = worldmap.view_box(points)
        assert -180 <= x and x + w <= 180.0001 and -90 <= y and y + h <= 90.0001
        assert w >= worldmap.MIN_SPAN[0] and abs(w / h - 2) < 1e-6


def test_world_outline_decodes_the_vendored_topology():
    import json

    paths = worldmap.country_paths(json.loads(worldmap.WORLD_FILE.read_text(encoding="utf-8")))
    names = {n for n, _ in paths}
    assert len(paths) > 150 and {"Iraq", "Egypt", "Morocco"} <= names
    assert (worldmap.WORLD_FILE.parent / "world-atlas-LICENSE").is_file()
    svg = worldmap.world_svg()
    assert svg.startswith("<svg") and 'viewBox="-180 -90 360 180"' in svg


@pytest.fixture
def down_client() -> TestClient:
    """The app with an Elasticsearch client on a port nothing listens on."""
    settings = Settings(es_url="http://127.0.0.1:9", es_password="")
    app = create_app(settings, es_factory=lambda s: Elasticsearch(s.es_url, request_timeout=2, max_retries=0))
    return TestClient(app)


def test_pages_say_clearly_that_elasticsearch_is_down(down_client: TestClient):
    for path in ("/?q=بغداد", "/events/abc", "/alerts"):
        resp = down_client.get(path)
        assert resp.status_code == 503, path
        assert 'dir="rtl"' in resp.text and "Elasticsearch غير متاح" in resp.text
        assert "hadath infra up" in resp.text and "127.0.0.1:9" in resp.text


def test_health_and_world_need_no_elasticsearch(down_client: TestClient):
    assert down_client.get("/healthz").json() == {"ok": True}
    resp = down_client.get("/world.svg")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/svg+xml")
    assert down_client.get("/static/style.css").status_code == 200
    assert down_client.get("/?page=0").status_code == 422


class _AlertsES:
    """Answers the two questions ``/alerts`` asks: the saved alerts and their kept matches."""

    class indices:  # noqa: N801 - mirrors the client's namespace
        @staticmethod
        def exists_alias(name: str) -> bool:
            return True

    def __init__(self, alerts: list[dict], buckets: list[dict]) -> None:
        self.alerts, self.buckets = alerts, buckets

    def search(self, index: str, **body):  # noqa: ANN003 - the client's keywords
        if index.endswith(".matches"):
            return {"aggregations": {"by_alert": {"buckets": self.buckets}}}
        return {"hits": {"hits": [{"_source": {"alert": a}} for a in self.alerts]}}


def test_alerts_page_lists_each_alert_with_its_newest_matches_linked_to_their_event():
    alerts = [{"name": "موانئ", "query": "ميناء البصرة", "entities": ["LOC:بصره"], "webhook": "http://x",
               "created_at": "2026-12-01T10:00:00+00:00"}, {"name": "quiet", "query": "x", "entities": []}]
    match = {"alert": "موانئ", "article_id": "a/1", "event_id": "ev1", "title": "افتتاح <ميناء>",
             "source": "wakala", "matched_at": "2026-12-01T10:05:00Z"}
    orphan = {**match, "article_id": "a2", "event_id": None, "title": "بلا حدث"}
    client = TestClient(create_app(Settings(), es_factory=lambda s: _AlertsES(
        alerts, [{"key": "موانئ", "doc_count": 12, "recent": {"hits": {"hits": [{"_source": match}, {"_source": orphan}]}}}])))
    html = client.get("/alerts").text
    assert 'dir="rtl"' in html and 'data-alert="موانئ"' in html and 'data-total="12"' in html
    assert 'href="/events/ev1#a-a%2F1"' in html and "افتتاح &lt;ميناء&gt;" in html
    assert "بلا حدث" in html and "معروض أحدث 2 من 12" in html
    assert "http://x" not in html  # a webhook URL may hold a token: not shown
    assert "لم تطابقه أي مقالة جديدة بعد" in html  # "quiet" has none
    empty = TestClient(create_app(Settings(), es_factory=lambda s: _AlertsES([], []))).get("/alerts").text
    assert 'id="no-alerts"' in empty and "hadath alerts add" in empty

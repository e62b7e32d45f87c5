"""The search page: an Arabic, right-to-left web front end on the article and event aliases.

``python -m services.web`` (started by ``hadath services up`` and ``hadath demo``) serves, on
``HADATH_WEB_HOST:HADATH_WEB_PORT`` (default ``127.0.0.1:8080``):

* ``/`` — the search: ``q`` (analyzed as ``hadath search`` does: :func:`shared.search.search`,
  grouped by event), facet filters ``PERS``/``LOC``/``ORG``/``MISC`` (canonical entity keys,
  repeatable, all must hold), ``source`` and ``topic`` (repeatable, any), ``month``
  (``YYYY-MM``), and ``page`` (1-based, :data:`PAGE_SIZE` events a page); hits with their
  matched words marked, facets as links that add or remove a filter, a map of the hits' places;
* ``/events/<event_id>`` — one event (:func:`shared.event_search.event_timeline`): its articles
  by outlet and in time order, its entities, and its places on a map;
* ``/alerts`` — the saved alerts (``hadath alerts add``) with each one's match count and its
  :data:`ALERT_MATCHES_SHOWN` newest matches (kept by the index stage in the matches index,
  :func:`shared.alerts.recent_matches`), each linking to its article on its event's page;
* ``/world.svg`` — the world outline the maps draw on (:mod:`services.web.worldmap`);
* ``/healthz`` — ``{"ok": true}`` (the process answers; Elasticsearch is not asked).

An unreachable or failing Elasticsearch gives a 503 page that says so and what to do; an
unknown event a 404 page. Nothing is fetched from the internet, at build or run time.
"""

from __future__ import annotations

import calendar
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from shared.arabic import entity_key
from shared.months import GREGORIAN_MONTH_NAMES
from shared.schemas import ENTITY_LABELS
from shared.settings import Settings
from services.web import worldmap

HERE = Path(__file__).resolve().parent
#: Events (grouped hits) per result page.
PAGE_SIZE = 10
#: Deepest page served (``from + size`` stays under Elasticsearch's 10,000 window).
MAX_PAGE = 10_000 // PAGE_SIZE - 1
#: Newest matches listed per alert on ``/alerts``.
ALERT_MATCHES_SHOWN = 10
#: Most places drawn on one map.
MAX_MARKERS = 60
#: The facets, in the order shown: ``(result facet name, URL parameter, Arabic heading)``.
FACETS: tuple[tuple[str, str, str], ...] = (
    ("PERS", "PERS", "أشخاص"), ("LOC", "LOC", "أماكن"), ("ORG", "ORG", "منظمات"), ("MISC", "MISC", "متفرقات"),
    ("source", "source", "المصادر"), ("topic", "topic", "المواضيع"), ("published_at", "month", "الشهر"),
)
FILTER_PARAMS: tuple[str, ...] = tuple(p for _, p, _ in FACETS)
#: Arabic names of the topic model's sections (``services.events.topic.TOPICS``).
TOPIC_NAMES = {"culture": "ثقافة", "economy": "اقتصاد", "internationalNews": "أخبار دولية",
               "middleEast": "الشرق الأوسط", "sport": "رياضة", "technology": "تقنية"}
LABEL_NAMES = {"PERS": "شخص", "LOC": "مكان", "ORG": "منظمة", "MISC": "متفرقات"}


# --- pure helpers (tested without a server) ------------------------------------------------------

def marked(text: str | None) -> Markup:
    """An Elasticsearch highlight fragment as safe HTML: the text escaped, its ``<em>…</em>``
    match tags turned into ``<mark>…</mark>``."""
    html = str(escape(text or ""))
    return Markup(html.replace("&lt;em&gt;", "<mark>").replace("&lt;/em&gt;", "</mark>"))


def month_name(value: str) -> str:
    """``"2025-08"`` → ``"أغسطس 2025"`` (the value itself when it is not ``YYYY-MM``)."""
    try:
        year, month = (int(p) for p in value.split("-"))
        return f"{GREGORIAN_MONTH_NAMES[month][0]} {year}"
    except (ValueError, KeyError):
        return value


def when(ts: str | None) -> str:
    """``"2025-08-19T06:20:00Z"`` → ``"19 أغسطس 2025، 06:20"`` (``""`` for None)."""
    if not ts:
        return ""
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    return f"{moment.day} {GREGORIAN_MONTH_NAMES[moment.month][0]} {moment.year}، {moment:%H:%M}"


def month_range(value: str) -> tuple[datetime, datetime]:
    """``"2025-08"`` → the first and the last moment of August 2025 (UTC).

    Raises:
        ValueError: ``value`` is not ``YYYY-MM``.
    """
    year, month = (int(p) for p in value.split("-"))
    last = calendar.monthrange(year, month)[1]
    return (datetime(year, month, 1, tzinfo=UTC), datetime(year, month, last, 23, 59, 59, 999000, tzinfo=UTC))


def filters_of(params: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The filter parameters of a query string: ``{param: [values]}`` for each of
    :data:`FILTER_PARAMS` (blank values dropped, duplicates once, ``month`` kept to its last
    well-formed value)."""
    out: dict[str, list[str]] = {}
    for p in FILTER_PARAMS:
        values = list(dict.fromkeys(v.strip() for v in params.get(p, ()) if v and v.strip()))
        if p == "month":
            good = [v for v in values if _is_month(v)]
            values = good[-1:]
        out[p] = values
    return out


def _is_month(value: str) -> bool:
    try:
        month_range(value)
        return True
    except (ValueError, calendar.IllegalMonthError):
        return False


def page_url(q: str, filters: Mapping[str, Sequence[str]], *, add: tuple[str, str] | None = None,
             remove: tuple[str, str] | None = None, page: int = 1) -> str:
    """The search URL for ``q`` and ``filters``, with one filter added (``month`` replaces the
    month) or removed, at ``page`` (page 1 is left out)."""
    pairs: list[tuple[str, str]] = [("q", q)] if q else []
    for p in FILTER_PARAMS:
        values = list(filters.get(p, ()))
        if add and add[0] == p:
            values = [add[1]] if p == "month" else values + ([add[1]] if add[1] not in values else [])
        if remove and remove[0] == p:
            values = [v for v in values if v != remove[1]]
        pairs += [(p, v) for v in values]
    if page > 1:
        pairs.append(("page", str(page)))
    return "/?" + urlencode(pairs) if pairs else "/"


def page_numbers(page: int, pages: int, around: int = 2) -> list[int | None]:
    """Page links to show: the first, the last, and ``around`` on each side of ``page``; None
    stands for a gap."""
    wanted = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)})
    out: list[int | None] = []
    for n in wanted:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out


def markers(places: Sequence[Mapping[str, Any]], *, limit: int = MAX_MARKERS) -> list[dict[str, Any]]:
    """Map markers from place records (``{"name", "geonameid", "location": {"lat", "lon"},
    "count"?}``, as articles and events carry them): one per spot, ``{"name", "lat", "lon",
    "count", "key"}``. Records of one place (by ``geonameid``, else name) add up their
    ``count`` (1 for a record without one); places at the same spot (coordinates equal to
    0.01°, e.g. a country placed at its capital) share one marker named after all of them,
    most frequent first, whose ``key`` (the canonical LOC key its link filters on) is the most
    frequent one's. The ``limit`` most frequent markers; places without coordinates left out."""
    merged: dict[Any, dict[str, Any]] = {}
    for p in places:
        loc = p.get("location") or {}
        lat, lon = loc.get("lat"), loc.get("lon")
        if lat is None or lon is None or not p.get("name"):
            continue
        ident = p.get("geonameid") or p["name"]
        m = merged.setdefault(ident, {"name": p["name"], "lat": float(lat), "lon": float(lon), "count": 0})
        m["count"] += int(p.get("count") or 1)
    spots: dict[tuple[float, float], list[dict[str, Any]]] = defaultdict(list)
    for m in sorted(merged.values(), key=lambda m: (-m["count"], m["name"])):
        spots[(round(m["lat"], 2), round(m["lon"], 2))].append(m)
    out = [{"name": "، ".join(dict.fromkeys(m["name"] for m in group)), "lat": group[0]["lat"],
            "lon": group[0]["lon"], "count": sum(m["count"] for m in group), "key": entity_key(group[0]["name"])}
           for group in spots.values()]
    return sorted(out, key=lambda m: (-m["count"], m["name"]))[:limit]


def map_view(marks: Sequence[Mapping[str, Any]], href: Callable[[Mapping[str, Any]], str]) -> dict[str, Any]:
    """What a map template needs: ``{"box": "x y w h", "world": (x, y, w, h) of the world
    image, "r": base marker radius, "font": label size, "markers": [{…, "x", "y", "r",
    "href"}]}`` (map coordinates: ``x`` = lon, ``y`` = -lat; ``href(marker)`` is the link of
    each marker)."""
    x, y, w, h = worldmap.view_box([(m["lon"], m["lat"]) for m in marks])
    top = max((m["count"] for m in marks), default=1)
    base = w / 140
    out = [{**m, "x": m["lon"], "y": -m["lat"], "r": base * (1 + 0.8 * math.sqrt(m["count"] / top)), "href": href(m)} for m in marks]
    return {"box": f"{x:.2f} {y:.2f} {w:.2f} {h:.2f}", "world": worldmap.WORLD_BOX, "r": base,
            "font": w / 55, "markers": out}


def display_names(articles: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """``{(label, canonical key): the most common written form}`` over the ``entities`` of
    ``articles`` (forms whose normalization is the key itself preferred)."""
    forms: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for a in articles:
        for e in a.get("entities") or []:
            if e.get("label") and e.get("normalized") and e.get("text"):
                forms[(e["label"], e["normalized"])][e["text"]] += 1
    return {k: c.most_common(1)[0][0] for k, c in forms.items()}


# --- the application ----------------------------------------------------------------------------

def create_app(settings: Settings | None = None, es_factory: Callable[[Settings], Any] | None = None) -> FastAPI:
    """The ASGI application for ``settings`` (default: read from the environment).

    ``es_factory(settings)`` makes the Elasticsearch client, once, at the first request that
    needs it (default :func:`shared.es.client` with a 10 s timeout and one retry); a test can
    pass a fake.
    """
    settings = settings or Settings()
    app = FastAPI(title="Hadath", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(marked=marked, month_name=month_name, when=when, page_url=page_url,
                                 topic_name=lambda t: TOPIC_NAMES.get(t, t), label_names=LABEL_NAMES)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    state: dict[str, Any] = {}

    def es() -> Any:
        if "es" not in state:
            if es_factory is not None:
                state["es"] = es_factory(settings)
            else:
                from shared.es import client

                state["es"] = client(settings, request_timeout=10, max_retries=1)
        return state["es"]

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    from elasticsearch import ApiError, TransportError

    from shared.es import CredentialsError

    async def es_failure(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", **describe_failure(exc, settings))

    for failure in (ApiError, TransportError, CredentialsError):
        app.add_exception_handler(failure, es_failure)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        return JSONResponse({"ok": True})

    @app.get("/world.svg")
    def world() -> Response:
        return Response(worldmap.world_svg(), media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/", response_class=HTMLResponse)
    def search_page(request: Request, q: str = "", page: int = Query(1, ge=1, le=MAX_PAGE)) -> HTMLResponse:
        from shared.search import search

        q = q.strip()
        filters = filters_of({p: request.query_params.getlist(p) for p in FILTER_PARAMS})
        since = until = None
        if filters["month"]:
            since, until = month_range(filters["month"][0])
        result = search(es(), settings, q or None,
                        entities=[(label, key) for label in ENTITY_LABELS for key in filters[label]],
                        sources=filters["source"], topics=filters["topic"], since=since, until=until,
                        group_by_event=True, size=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        groups = result.get("total_events") or (1 if result["total"] else 0)
        pages = max(1, math.ceil(groups / PAGE_SIZE))
        places = [p for h in result["hits"] for p in h.get("places") or []]
        active = [(p, v, _filter_label(p, v, result["facets"])) for p in FILTER_PARAMS for v in filters[p]]
        return render(request, "search.html", q=q, filters=filters, result=result, page=page,
                      pages=min(pages, MAX_PAGE), page_links=page_numbers(page, min(pages, MAX_PAGE)),
                      facets=_facet_view(result["facets"], filters), active=active,
                      map=map_view(markers(places), lambda m: page_url(q, filters, add=("LOC", m["key"]))),
                      title=q or "بحث")

    @app.get("/alerts", response_class=HTMLResponse)
    def alerts_page(request: Request) -> HTMLResponse:
        from shared.alerts import list_alerts, recent_matches

        alerts = list_alerts(es(), settings)
        recent = recent_matches(es(), settings, [a["name"] for a in alerts], per_alert=ALERT_MATCHES_SHOWN)
        view = [{**a, "entities": [_entity_chip(spec) for spec in a.get("entities") or []],
                 "total": recent.get(a["name"], {}).get("total", 0),
                 "matches": [{**m, "href": match_href(m)} for m in recent.get(a["name"], {}).get("matches", [])]}
                for a in alerts]
        return render(request, "alerts.html", alerts=view, title="التنبيهات")

    @app.get("/events/{event_id}", response_class=HTMLResponse)
    def event_page(request: Request, event_id: str) -> HTMLResponse:
        from shared.event_search import EventNotFound, event_timeline

        try:
            view = event_timeline(es(), settings, event_id)
        except EventNotFound:
            return render(request, "error.html", status=404, heading="لا حدث بهذا المعرّف",
                          message=f"لا يوجد حدث معرّفه {event_id}.", hint="ابحث عنه من صفحة البحث.")
        event = view["event"]
        names = display_names(_event_entities(es(), settings, event["event_id"]))
        entities = {label: [{"key": e["value"], "count": e.get("count", 0),
                             "display": names.get((label, e["value"]), e["value"])}
                            for e in (event.get("entity_keys") or {}).get(label) or []]
                    for label in ENTITY_LABELS}
        by_outlet: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in view["articles"]:
            by_outlet[a.get("source") or "—"].append(a)
        outlets = sorted(by_outlet.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        return render(request, "event.html", view=view, event=event, entities=entities, outlets=outlets,
                      map=map_view(markers(event.get("places") or []), lambda m: page_url("", {"LOC": [m["key"]]})), title=event.get("title") or event_id)

    return app


def _event_entities(es: Any, settings: Settings, event_id: str) -> list[dict[str, Any]]:
    """The ``entities`` of an event's articles (up to 200), for the names as written."""
    resp = es.search(index=settings.index_alias, size=200, query={"term": {"event_id": event_id}},
                     source=["entities"])
    return [h["_source"] for h in resp["hits"]["hits"]]


def match_href(match: Mapping[str, Any]) -> str | None:
    """Where an alert match links: its article on its event's page
    (``/events/<event_id>#a-<article_id>``), or None for an article without an event yet."""
    if not match.get("event_id"):
        return None
    return f"/events/{quote(match['event_id'], safe='')}#a-{quote(match['article_id'], safe='')}"


def _entity_chip(spec: str) -> dict[str, str]:
    """An alert's ``LABEL:key`` filter as ``{"label", "key", "href"}`` (the search it narrows to)."""
    label, _, key = spec.partition(":")
    return {"label": LABEL_NAMES.get(label, label), "key": key, "href": page_url("", {label: [key]})}


def _filter_label(param: str, value: str, facets: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """How an active filter reads: the entity as written, the topic or month in Arabic."""
    if param == "month":
        return month_name(value)
    if param == "topic":
        return TOPIC_NAMES.get(value, value)
    for b in facets.get(param, ()):
        if b["value"] == value:
            return b.get("display", value)
    return value


def _facet_view(facets: Mapping[str, Sequence[Mapping[str, Any]]], filters: Mapping[str, Sequence[str]]
                ) -> list[dict[str, Any]]:
    """The facet blocks: ``[{"name", "param", "heading", "buckets": [{"value", "count",
    "label", "active"}]}]``, empty facets left out."""
    out = []
    for name, param, heading in FACETS:
        buckets = []
        for b in facets.get(name, ()):
            label = b.get("display", b["value"])
            if param == "topic":
                label = TOPIC_NAMES.get(b["value"], b["value"])
            elif param == "month":
                label = month_name(b["value"])
            buckets.append({"value": b["value"], "count": b["count"], "label": label,
                            "active": b["value"] in filters.get(param, ())})
        if param == "month":
            buckets.sort(key=lambda b: b["value"], reverse=True)
        if buckets:
            out.append({"name": name, "param": param, "heading": heading, "buckets": buckets})
    return out


def describe_failure(exc: BaseException, settings: Settings) -> dict[str, Any]:
    """The error page's ``{"status", "heading", "message", "hint"}`` for an exception raised
    while asking Elasticsearch (503 for an unreachable, refusing or failing server or a missing
    index; 500 for anything else)."""
    from elasticsearch import ApiError, AuthenticationException, NotFoundError, TransportError

    from shared.es import CredentialsError

    if isinstance(exc, (TransportError, CredentialsError)) and not isinstance(exc, ApiError):
        return {"status": 503, "heading": "Elasticsearch غير متاح",
                "message": f"تعذّر الوصول إلى Elasticsearch على {settings.es_url}.",
                "hint": "شغّله بالأمر hadath infra up ثم أعد تحميل الصفحة."}
    if isinstance(exc, AuthenticationException):
        return {"status": 503, "heading": "رفض Elasticsearch بيانات الدخول",
                "message": f"رفض Elasticsearch على {settings.es_url} كلمة مرور المستخدم {settings.es_user}.",
                "hint": "اضبط HADATH_ES_PASSWORD."}
    if isinstance(exc, NotFoundError):
        return {"status": 503, "heading": "لا فهرس بعد",
                "message": f"لا يوجد فهرس خلف الاسم {settings.index_alias} أو {settings.events_alias}.",
                "hint": "شغّل الخدمات وأرسل المقالات: hadath demo."}
    if isinstance(exc, ApiError):
        return {"status": 503, "heading": "خطأ من Elasticsearch",
                "message": f"أجاب Elasticsearch بالرمز {exc.meta.status}.",
                "hint": "هل ما زال يبدأ؟ انظر hadath infra status."}
    return {"status": 500, "heading": "خطأ غير متوقع", "message": type(exc).__name__,
            "hint": "انظر سجل الخدمة web."}


def main() -> None:
    """Serve :func:`create_app` with uvicorn on ``HADATH_WEB_HOST:HADATH_WEB_PORT``."""
    import uvicorn

    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.web_host, port=settings.web_port, log_level="info",
                access_log=False)

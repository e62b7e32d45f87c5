"""``hadath events``, ``hadath event ID`` and ``hadath search --group-by-event`` against the REAL
Elasticsearch.

The module writes its own article and event documents (no services run) behind its own aliases
(``t-cli-<uuid>-articles`` / ``t-cli-<uuid>-events``, created by :func:`shared.es.ensure_index`,
deleted at the end) and runs the commands through typer's CliRunner with those aliases in the
environment:

* ``ev-flood``: three articles (two outlets, one article undated), LOC الخرطوم, trending;
* ``ev-final``: two articles (two outlets), topic sport, published before August 2025;
* ``ev-fair``: one undated article, ingested last (so the newest by last seen);
* ``ev-old``: merged into ``ev-flood`` (no articles of its own).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from hadath.cli import app
from shared.es import client, ensure_index
from shared.event_search import EVENT_FIELDS
from shared.search import parse_entity_filter
from shared.settings import Settings, env_name

pytestmark = pytest.mark.integration

KHARTOUM = parse_entity_filter("LOC:الخرطوم")[1]
ADIL = parse_entity_filter("PERS:عادل بابكر")[1]
NILE_CLUB = parse_entity_filter("ORG:نادي النيل")[1]


def _article(article_id: str, event_id: str, source: str, title: str, body: str, published_at: str | None,
             ingested_at: str, topic: str, entities: dict[str, list[str]]) -> dict:
    return {"article_id": article_id, "source": source, "title": title, "body": body,
            "published_at": published_at, "ingested_at": ingested_at, "language": "ar", "topic": topic,
            "event_id": event_id,
            "entities": [{"text": v, "label": label, "normalized": v, "start": 0, "end": len(v), "score": 1.0}
                         for label, values in entities.items() for v in values],
            "entity_keys": {label: values for label, values in entities.items()}}


ARTICLES = [
    _article("a1", "ev-flood", "gulf-wire", "سيول تغمر أحياء في الخرطوم", "غمرت سيول جارفة أحياء الخرطوم فجر الثلاثاء.",
             "2025-08-19T06:20:00Z", "2026-01-01T10:00:00Z", "internationalNews", {"LOC": [KHARTOUM], "PERS": [ADIL]}),
    _article("a2", "ev-flood", "maghreb-news", "سيول جارفة في الخرطوم وتشرد آلاف الأسر",
             "تشردت آلاف الأسر في الخرطوم بعد السيول.", "2025-08-19T10:05:00Z", "2026-01-01T10:00:01Z",
             "internationalNews", {"LOC": [KHARTOUM]}),
    _article("a3", "ev-flood", "gulf-wire", "فرق الإنقاذ تواصل العمل في الخرطوم", "تواصل فرق الإنقاذ العمل في الخرطوم.",
             None, "2026-01-01T10:00:02Z", "internationalNews", {"LOC": [KHARTOUM]}),
    _article("b1", "ev-final", "al-nahar-daily", "نادي النيل يبلغ النهائي",
             "بلغ نادي النيل النهائي بعد فوزه، وسافر مشجعون من الخرطوم إلى القاهرة.",
             "2025-06-10T20:00:00Z", "2026-01-01T09:00:00Z", "sport", {"ORG": [NILE_CLUB]}),
    _article("b2", "ev-final", "gulf-wire", "نادي النيل يستعد للنهائي", "يستعد نادي النيل لخوض المباراة النهائية.",
             "2025-06-11T09:00:00Z", "2026-01-01T09:00:01Z", "sport", {"ORG": [NILE_CLUB]}),
    _article("c1", "ev-fair", "mysite", "افتتاح معرض الكتاب في الرباط", "افتتح معرض الكتاب في الرباط.",
             None, "2026-02-01T08:00:00Z", "culture", {}),
]


def _event(event_id: str, articles: list[dict], *, title: str, topic: str, trending: bool,
           entity_keys: dict[str, list[dict]], merged_from: list[str] = ()) -> dict:
    published = sorted(a["published_at"] for a in articles if a["published_at"])
    ingested = sorted(a["ingested_at"] for a in articles)
    counts: dict[str, int] = {}
    for a in articles:
        counts[a["source"]] = counts.get(a["source"], 0) + 1
    sources = sorted(counts, key=lambda s: (-counts[s], s))
    return {"event_id": event_id, "title": title, "summary": articles[0]["body"],
            "article_count": len(articles), "source_count": len(counts), "sources": sources,
            "source_counts": [{"value": s, "count": counts[s]} for s in sources],
            "article_ids": [a["article_id"] for a in articles],
            "first_published_at": published[0] if published else None,
            "last_published_at": published[-1] if published else None,
            "first_ingested_at": ingested[0], "last_ingested_at": ingested[-1],
            "event_date": published[0][:10] if published else None,
            "entity_keys": {label: entity_keys.get(label, []) for label in ("PERS", "LOC", "ORG", "MISC")},
            "places": [], "topic": topic, "trending": trending, "trending_score": 3.0 if trending else 1.0,
            "recent_count": len(articles), "updated_at": "2026-02-01T08:00:00Z", "merged_from": list(merged_from)}


def _by(event_id: str) -> list[dict]:
    return [a for a in ARTICLES if a["event_id"] == event_id]


EVENTS = [
    _event("ev-flood", _by("ev-flood"), title="سيول تغمر أحياء في الخرطوم", topic="internationalNews", trending=True,
           entity_keys={"LOC": [{"value": KHARTOUM, "count": 3}], "PERS": [{"value": ADIL, "count": 1}]},
           merged_from=["ev-old"]),
    _event("ev-final", _by("ev-final"), title="نادي النيل يبلغ النهائي", topic="sport", trending=False,
           entity_keys={"ORG": [{"value": NILE_CLUB, "count": 2}]}),
    _event("ev-fair", _by("ev-fair"), title="افتتاح معرض الكتاب في الرباط", topic="culture", trending=False,
           entity_keys={}),
    {"event_id": "ev-old", "merged_into": "ev-flood", "article_count": 0, "source_count": 0, "article_ids": [],
     "sources": [], "title": "سيول في الخرطوم", "last_published_at": "2030-01-01T00:00:00Z",
     "updated_at": "2026-01-01T10:00:02Z"},
]


@pytest.fixture(scope="module")
def env(infrastructure) -> Iterator[dict[str, str]]:
    """Own aliases filled with :data:`ARTICLES` and :data:`EVENTS`; the environment naming them."""
    tag = uuid.uuid4().hex[:8]
    settings = Settings().model_copy(update={"index_alias": f"t-cli-{tag}-articles",
                                             "events_alias": f"t-cli-{tag}-events"})
    es = client(settings)
    try:
        ensure_index(es, settings)
        for a in ARTICLES:
            es.index(index=settings.index_alias, id=a["article_id"], document=a)
        for e in EVENTS:
            es.index(index=settings.events_alias, id=e["event_id"], document=e)
        es.indices.refresh(index=settings.index_alias)
        es.indices.refresh(index=settings.events_alias)
        yield {env_name("index_alias"): settings.index_alias, env_name("events_alias"): settings.events_alias}
    finally:
        for alias in (settings.index_alias, settings.events_alias):
            if es.indices.exists_alias(name=alias):
                for index in es.indices.get_alias(name=alias):
                    es.options(ignore_status=404).indices.delete(index=index)
            es.options(ignore_status=404).indices.delete_index_template(name=alias)


def run(env: dict[str, str], *args: str):
    result = CliRunner().invoke(app, list(args), env=env)
    return result


def run_json(env: dict[str, str], *args: str) -> dict:
    result = run(env, *args, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def ids(result: dict) -> list[str]:
    return [e["event_id"] for e in result["events"]]


def test_newest_events_by_last_seen_skip_merged_and_have_the_contract_shape(env):
    result = run_json(env, "events")
    # ev-fair is undated: last seen = its ingestion (2026-02), newer than the flood's 2025-08 publication;
    # ev-old (merged, with the latest date of all) is not listed
    assert result["total"] == 3
    assert ids(result) == ["ev-fair", "ev-flood", "ev-final"]
    assert set(result) == {"total", "events"}
    for e in result["events"]:
        assert tuple(e) == EVENT_FIELDS
    flood = result["events"][1]
    assert flood["article_count"] == 3 and flood["source_count"] == 2
    assert flood["sources"] == ["gulf-wire", "maghreb-news"]
    assert flood["last_published_at"] == "2025-08-19T10:05:00Z" and flood["trending"] is True
    assert flood["entity_keys"]["LOC"] == [{"value": KHARTOUM, "count": 3}]
    assert ids(run_json(env, "events", "--size", "1")) == ["ev-fair"]
    assert run_json(env, "events", "--size", "1")["total"] == 3


def test_query_lists_the_events_of_matching_articles_best_first(env):
    result = run_json(env, "events", "الخرطوم")
    # the flood's articles name Khartoum in their titles; one football article in its body only
    assert ids(result) == ["ev-flood", "ev-final"] and result["total"] == 2
    assert ids(run_json(env, "events", "معرض الكتاب")) == ["ev-fair"]
    assert run_json(env, "events", "كلمة-لا-توجد") == {"total": 0, "events": []}


def test_filters_entity_topic_since_and_trending(env):
    assert ids(run_json(env, "events", "--entity", "LOC:الخرطوم")) == ["ev-flood"]
    assert ids(run_json(env, "events", "--entity", "ORG:نادي النيل")) == ["ev-final"]
    assert ids(run_json(env, "events", "--topic", "sport")) == ["ev-final"]
    assert ids(run_json(env, "events", "--trending")) == ["ev-flood"]
    # last seen on or after 2025-08-01: the flood (published 2025-08-19) and the undated fair
    # (ingested 2026-02-01); the final (published 2025-06) is older
    assert ids(run_json(env, "events", "--since", "2025-08-01")) == ["ev-fair", "ev-flood"]
    assert ids(run_json(env, "events", "--since", "2026-01-15")) == ["ev-fair"]
    assert ids(run_json(env, "events", "الخرطوم", "--since", "2025-08-01")) == ["ev-flood"]
    assert ids(run_json(env, "events", "الخرطوم", "--topic", "sport")) == ["ev-final"]
    bad = run(env, "events", "--entity", "PLACE:x")
    assert bad.exit_code == 2 and "LABEL:VALUE" in bad.stderr


def test_events_table_shows_counts_and_ids(env):
    result = run(env, "events", "الخرطوم")
    assert result.exit_code == 0, result.stderr
    assert "2 events" in result.stdout
    assert "ev-flood" in result.stdout and "ev-final" in result.stdout and "ev-fair" not in result.stdout


def test_event_shows_its_timeline_and_follows_a_merged_id(env):
    view = run_json(env, "event", "ev-flood")
    assert view["merged_chain"] == [] and view["event"]["event_id"] == "ev-flood"
    assert view["total_articles"] == 3
    # by published_at, the undated article last
    assert [a["article_id"] for a in view["articles"]] == ["a1", "a2", "a3"]
    assert [a["source"] for a in view["articles"]] == ["gulf-wire", "maghreb-news", "gulf-wire"]
    assert view["event"]["source_counts"] == [{"value": "gulf-wire", "count": 2}, {"value": "maghreb-news", "count": 1}]

    merged = run_json(env, "event", "ev-old")
    assert merged["requested_id"] == "ev-old" and merged["merged_chain"] == ["ev-old", "ev-flood"]
    assert merged["event"]["event_id"] == "ev-flood"
    assert [a["article_id"] for a in merged["articles"]] == ["a1", "a2", "a3"]

    text = run(env, "event", "ev-old")
    assert text.exit_code == 0, text.stderr
    assert "event ev-old was merged into ev-flood" in text.stdout
    assert "3 articles from 2 outlets" in text.stdout
    assert text.stdout.index("a1") < text.stdout.index("a2") < text.stdout.index("a3")


def test_unknown_event_is_a_clear_error(env):
    result = run(env, "event", "no-such-event")
    assert result.exit_code == 1
    assert "no event 'no-such-event'" in result.stderr
    assert result.stdout == ""


def test_search_hits_carry_event_id_and_group_by_event_collapses(env):
    plain = run_json(env, "search", "الخرطوم")
    assert plain["total"] == 4
    assert {h["article_id"]: h["event_id"] for h in plain["hits"]} == \
        {"a1": "ev-flood", "a2": "ev-flood", "a3": "ev-flood", "b1": "ev-final"}
    assert "event_source_count" not in plain["hits"][0]

    grouped = run_json(env, "search", "الخرطوم", "--group-by-event")
    assert grouped["total"] == 4 and grouped["total_events"] == 2
    by_event = {h["event_id"]: h for h in grouped["hits"]}
    assert len(grouped["hits"]) == 2 and set(by_event) == {"ev-flood", "ev-final"}
    assert grouped["hits"][0]["event_id"] == "ev-flood"
    assert by_event["ev-flood"]["event_source_count"] == 2 and by_event["ev-flood"]["event_article_count"] == 3
    assert by_event["ev-final"]["event_source_count"] == 2 and by_event["ev-final"]["event_article_count"] == 2

    text = run(env, "search", "الخرطوم", "--group-by-event")
    assert text.exit_code == 0, text.stderr
    assert "4 documents in 2 events" in text.stdout

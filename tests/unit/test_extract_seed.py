"""The seed page through ingest, normalize and extract (no services): entities, places, dates."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.extract.extract import Extractor
from services.extract.ner.features import CUE_ORG
from services.ingest.gate import process_raw
from services.normalize.normalize import normalize_article
from shared.arabic import entity_key
from tests.conftest import shared_file

pytestmark = pytest.mark.corpus

LOCS = {"بغداد": (33.34, 44.40), "العراق": None, "واشنطن": (38.90, -77.04), "غزة": (31.50, 34.47),
        "إسرائيل": None, "بيروت": (33.89, 35.50), "الحلة": (32.46, 44.42), "بابل": (32.5, 44.5),
        "سوريا": None}
PERS = ["قاسم سليماني", "أبو مهدي المهندس", "هادي العامري", "محمد شياع السوداني", "يحيى رسول"]


@pytest.fixture(scope="module")
def stories():
    page = shared_file("seed", "page-baghdad-strike.txt").read_text(encoding="utf-8")
    raw = json.dumps({"source": "omandaily", "body": page, "published_at": "2024-01-04T12:00:00+00:00"},
                     ensure_ascii=False).encode()
    ingested = process_raw(raw, ingested_at=datetime(2024, 1, 4, 12, tzinfo=UTC))
    return Extractor("bilstm").extract_batch([normalize_article(a) for a in ingested])


def _keys(doc, label):
    return {e.normalized for e in doc.entities if e.label == label}


def test_places_in_the_afp_story_are_linked_with_coordinates(stories):
    afp = stories[0]
    assert {entity_key(n) for n in LOCS} <= _keys(afp, "LOC")
    places = {entity_key(p.name): p for p in afp.places}
    for name, coords in LOCS.items():
        place = places[entity_key(name)]
        assert place.location is not None and place.geonameid
        if coords:
            assert abs(place.location.lat - coords[0]) < 0.6 and abs(place.location.lon - coords[1]) < 0.6, name


def test_people_in_the_afp_story(stories):
    afp = stories[0]
    missing = {entity_key(p) for p in PERS} - _keys(afp, "PERS")
    assert not missing, (missing, _keys(afp, "PERS"))


def _org_found(doc, name: str) -> bool:
    """An ORG entity keyed as ``name``, or as ``name`` without a leading generic head word
    (حركة, حزب …): ANERcorp, the training data, tags "حركة حماس" as O B-ORG, and the shorter key
    is the better facet (one key for "حماس" and "حركة حماس")."""
    key = entity_key(name)
    head, _, rest = key.partition(" ")
    keys = _keys(doc, "ORG")
    return key in keys or (bool(rest) and head in CUE_ORG and rest in keys)


def test_organizations_named_as_such_in_the_afp_story(stories):
    afp = stories[0]
    for name in ("حماس", "حركة النجباء"):
        assert _org_found(afp, name), (name, _keys(afp, "ORG"))


@pytest.mark.xfail(reason="ANERcorp, the only labelled data, tags التحالف الدولي as O (train.txt) and "
                          "has no الحشد الشعبي; no allowed source lists modern Iraqi organisations. "
                          "Open in the NER issue", strict=True)
def test_descriptive_organization_names_in_the_afp_story(stories):
    afp = stories[0]
    missing = [name for name in ("الحشد الشعبي", "التحالف الدولي") if not _org_found(afp, name)]
    assert not missing, (missing, _keys(afp, "ORG"))


def test_dates_in_both_stories(stories):
    afp, kuna = stories
    assert any(d.text == "يناير 2020" and d.value == "2020-01" for d in afp.dates)
    assert any(d.text == "نهاية سبتمبر 2025" and d.value.startswith("2025-09") for d in kuna.dates)
    for doc in stories:
        for item in [*doc.entities, *doc.dates]:
            assert doc.body[item.start:item.end] == item.text

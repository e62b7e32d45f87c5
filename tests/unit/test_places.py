"""Arabic place gazetteer, GazetteerRecognizer and link_places (own sentences; seed as corpus)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from shared.dates import find_dates
from services.extract.places import (
    GazetteerRecognizer,
    PlaceGazetteer,
    get_gazetteer,
    link_places,
)
from services.extract.recognize import Recognizer

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SEED = SHARED / "seed" / "page-baghdad-strike.txt"

# name -> (geonameid, country, lat, lon); countries are placed at their capital (documented)
EXPECTED = {
    "بغداد": (98182, "IQ", 33.34, 44.40),
    "العراق": (99237, "IQ", 33.34, 44.40),
    "واشنطن": (4140963, "US", 38.90, -77.04),
    "غزة": (281133, "PS", 31.50, 34.47),
    "إسرائيل": (294640, "IL", 31.77, 35.22),
    "بيروت": (276781, "LB", 33.89, 35.50),
    "الحلة": (99347, "IQ", 32.46, 44.42),
    "بابل": (98227, "IQ", 32.62, 44.55),
    "سوريا": (163843, "SY", 33.51, 36.29),
}


@pytest.fixture(scope="module")
def gaz() -> PlaceGazetteer:
    return get_gazetteer()


@pytest.fixture(scope="module")
def rec(gaz) -> GazetteerRecognizer:
    return GazetteerRecognizer(gaz)


def _check(place, name):
    gid, cc, lat, lon = EXPECTED[name]
    assert place is not None, name
    assert place.geonameid == gid, (name, place)
    assert place.country_code == cc
    assert place.location is not None
    assert abs(place.location.lat - lat) < 0.5 and abs(place.location.lon - lon) < 0.5, place


@pytest.mark.parametrize("name", list(EXPECTED))
def test_link_known_places(gaz, name):
    _check(gaz.link(name, ""), name)


def test_feature_kinds(gaz):
    assert gaz.link("العراق").feature == "country"
    assert gaz.link("بغداد").feature == "city"
    assert gaz.link("بابل").feature == "region"
    assert gaz.link("سورية").geonameid == gaz.link("سوريا").geonameid


@pytest.mark.parametrize(
    "surface,name",
    [("وبغداد", "بغداد"), ("لبغداد", "بغداد"), ("بالعراق", "العراق"), ("للعراق", "العراق"),
     ("وإسرائيل", "إسرائيل"), ("فبيروت", "بيروت"), ("وبسوريا", "سوريا"), ("بَغْدَاد", "بغداد")],
)
def test_lookup_with_proclitics_and_diacritics(gaz, surface, name):
    _check(gaz.link(surface, ""), name)


def test_unknown_name(gaz):
    assert gaz.lookup("كلمةغيرموجودة") == []
    assert gaz.link("كلمةغيرموجودة", "") is None


def test_amman_vs_oman_by_context(gaz):
    oman, amman = 286963, 250441
    # prior: the country
    assert gaz.link("عمان", "وصل الوفد إلى عمان مساء اليوم").geonameid == oman
    assert gaz.link("عمان", "استقبل سلطان عمان الوزير في مسقط").geonameid == oman
    assert gaz.link("عمان", "زار الرئيس العاصمة الأردنية عمان").geonameid == amman
    assert gaz.link("عمان", "استقبل الملك عبدالله الثاني ضيفه في عمان").geonameid == amman


def test_amman_by_other_places_of_the_text(rec):
    text = "اجتمع المسؤولون في عمان ثم توجهوا إلى إربد شمالا."
    places = {p.geonameid for p in link_places(text, rec.recognize(text))}
    assert 250441 in places and 286963 not in places


def test_recognizer_protocol_and_offsets(rec):
    assert isinstance(rec, Recognizer) and rec.name == "gazetteer"
    text = "غادر الوفد بغداد متوجها لبيروت، ثم وصل إلى واشنطن بعد زيارة للعراق وسوريا."
    [ents] = rec.recognize_batch([text])
    for e in ents:
        assert text[e.start : e.end] == e.text and e.label == "LOC"
    assert [e.text for e in ents] == ["بغداد", "بيروت", "واشنطن", "للعراق", "سوريا"]
    assert [e.normalized for e in ents][-2:] == ["العراق", "سوريا"]
    assert [e.start for e in ents] == sorted(e.start for e in ents)
    assert rec.recognize_batch([]) == []
    assert rec.recognize_batch(["", "لا مكان هنا"]) == [[], []]


def test_longest_match_multiword(rec):
    text = "أعلنت الولايات المتحدة والمملكة العربية السعودية اتفاقا في تل أبيب."
    ents = rec.recognize(text)
    assert [e.text for e in ents] == ["الولايات المتحدة", "المملكة العربية السعودية", "تل أبيب"]


def test_common_words_are_not_places(rec):
    # words that are also GeoNames alternate names (pruned): مدينة، الخميس، بيان، الجديد، أمل...
    text = ("قال بيان صادر الخميس إن المدينة الجديدة تمثل أمل السكان، "
            "وذكرت وكالة فرانس برس أن الرئيس بشار تحدث عن العلم والحي والعين.")
    assert rec.recognize(text) == []


def test_link_places_distinct_and_contextual(rec):
    text = ("سقطت قذيفة قرب مدينة الحلة في محافظة بابل جنوب بغداد، وقالت بغداد إن "
            "إسرائيل وغزة بعيدتان عن الأمر.")
    places = link_places(text, rec.recognize(text))
    ids = [p.geonameid for p in places]
    assert ids == [99347, 98227, 98182, 294640, 281133]  # first-mention order, one each
    assert all(p.location is not None for p in places)


def test_link_entities_from_other_recognizers(gaz):
    from shared.schemas import Entity

    text = "تصاعد القصف على قطاع غزة ووبغداد"
    ents = [Entity(text="قطاع غزة", label="LOC", start=15, end=23, normalized="قطاع غزه"),
            Entity(text="القصف", label="ORG", start=6, end=11, normalized="القصف")]
    places = link_places(text, ents, gaz)
    assert [p.geonameid for p in places] == [281133]


@pytest.mark.corpus
@pytest.mark.skipif(not SEED.exists(), reason="../shared/seed absent")
def test_seed_page_first_story(rec):
    page = SEED.read_text(encoding="utf-8")
    cut = min(i for i in (page.find("بقلم"), page.find("إقرأ أيضاً")) if i > 0)
    story = page[:cut]
    ents = rec.recognize(story)
    for e in ents:
        assert story[e.start : e.end] == e.text
    places = link_places(story, ents)
    by_id = {p.geonameid: p for p in places}
    for name, (gid, cc, lat, lon) in EXPECTED.items():
        assert gid in by_id, name
        p = by_id[gid]
        assert p.country_code == cc
        assert abs(p.location.lat - lat) < 0.5 and abs(p.location.lon - lon) < 0.5, (name, p)
    # "فرانس برس" is not Reims
    assert not any(p.country_code == "FR" for p in places)
    dates = find_dates(story, datetime(2024, 1, 4))
    assert ("يناير 2020", "2020-01") in [(d.text, d.value) for d in dates]


def test_invisible_marks_inside_a_name_keep_original_offsets(rec):
    text = "صدر بيان في بغ\u200dداد و\u200cقالت إن\ufeff الوضع هادئ"
    (ent,) = rec.recognize(text)
    assert ent.normalized == "بغداد" and text[ent.start:ent.end] == ent.text == "بغ\u200dداد"


def test_khartoum_is_found_and_floods_are_not_seoul(rec):
    text = "اجتاحت سيول جارفة مدينة الخرطوم وأم درمان"
    ents = rec.recognize(text)
    assert [e.normalized for e in ents] == ["الخرطوم", "ام درمان"]
    assert link_places(text, ents)[0].geonameid == 379252

"""The events stage's clustering core on articles written for these tests (EnrichedArticle-like dicts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.events.cluster import (EventClusterer, EventParams, EventState, MemoryStore, event_id_for)
from services.events.features import article_time, day_number, features_of, light_stem
from shared.arabic import normalize

INGESTED = "2030-01-01T00:00:00+00:00"


def art(aid, source, body, *, title="", published=None, entities=(), places=(), dates=(), ingested=INGESTED):
    """An EnrichedArticle-like mapping: entities as (label, key), places as (name, id, feature),
    dates as ISO values (offsets in order of appearance)."""
    return {
        "article_id": aid, "source": source, "title": title, "body": body,
        "normalized_title": normalize(title), "normalized_body": normalize(body),
        "published_at": published, "ingested_at": ingested,
        "entities": [{"text": k, "label": lab, "start": 0, "end": len(k), "normalized": normalize(k)}
                     for lab, k in entities],
        "places": [{"name": n, "geonameid": g, "feature": ft} for n, g, ft in places],
        "dates": [{"text": v, "value": v, "start": i * 10, "end": i * 10 + 5} for i, v in enumerate(dates)],
    }


MILITIA = [("ORG", "كتائب النصر"), ("LOC", "الحلة"), ("PERS", "سامر الجبوري")]
CITY = [("الحلة", 98182, "city"), ("العراق", 99237, "country")]
STRIKE = ("قصفت طائرة مسيرة مقرا لكتائب النصر في مدينة الحلة فجر اليوم، ما أسفر عن مقتل 7 عناصر "
          "وإصابة 12 آخرين، وقال القيادي سامر الجبوري إن القصف استهدف مخزنا للأسلحة قرب الجسر.")
STRIKE_2 = ("أسفر قصف بطائرة مسيرة على مقر كتائب النصر في الحلة عن سقوط 7 قتلى و12 جريحا، بحسب "
            "القيادي سامر الجبوري الذي أكد أن الضربة أصابت مخزن أسلحة قرب الجسر فجر اليوم.")
STRIKE_LATER = ("قصفت طائرة مسيرة مقرا جديدا لكتائب النصر في مدينة الحلة مساء اليوم، ما أسفر عن مقتل 3 "
                "عناصر وإصابة 5 آخرين، وقال القيادي سامر الجبوري إن القصف طال مخزنا للذخيرة.")
FLOOD = ("اجتاحت سيول جارفة قرى وادي الريان بعد أمطار غزيرة استمرت يومين، وأعلن الدفاع المدني إجلاء "
         "400 أسرة وغرق عشرات المنازل وانقطاع الطريق الزراعي المؤدي إلى السوق.")


def strike(aid, source, body, day, **kw):
    return art(aid, source, body, published=f"{day}T09:00:00+03:00", entities=MILITIA, places=CITY,
               dates=[day], **kw)


def test_two_outlets_reports_of_one_incident_join_one_event():
    c = EventClusterer()
    a = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04", title="قصف مقر كتائب النصر في الحلة"))
    b = c.add(strike("a2", "outlet-two", STRIKE_2, "2031-03-04", title="7 قتلى بقصف على الحلة"))
    assert a.opened and not b.opened and b.event_id == a.event_id == event_id_for("a1")
    state = c.store.get(a.event_id)
    assert state.article_ids == ["a1", "a2"] and state.sources == {"outlet-one": 1, "outlet-two": 1}
    assert state.entity_keys["ORG"][normalize("كتائب النصر")] == 2 and state.places[98182] == 2


def test_the_same_kind_of_incident_a_month_later_with_the_same_actors_stays_apart():
    c = EventClusterer()
    first = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    c.add(strike("a2", "outlet-two", STRIKE_2, "2031-03-04"))
    later = c.add(strike("b1", "outlet-three", STRIKE_LATER, "2031-04-06"))
    assert later.opened and later.event_id != first.event_id
    # the next day's report of the later strike joins the later one, not the first
    again = c.add(strike("b2", "outlet-one", STRIKE_LATER, "2031-04-07"))
    assert again.event_id == later.event_id


@pytest.mark.xfail(strict=True, reason="known limit: same names and near-same words one day later still "
                   "score above the threshold after the stated-day penalty (see the bench's look-alike merges)")
def test_a_consecutive_day_look_alike_is_kept_apart_by_its_stated_day():
    c = EventClusterer()
    first = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    # published the next day, same names, the lead says the strike was that day
    next_day = c.add(strike("n1", "outlet-two", STRIKE_LATER, "2031-03-05"))
    assert next_day.event_id != first.event_id


def test_an_undated_article_falls_back_to_its_stated_date_then_to_ingested_at():
    stated = features_of(art("s", "x", STRIKE, dates=["2031-03-04", "2031-02-01"]))
    assert stated.time.kind == "stated" and stated.time.days == day_number("2031-03-04")
    bare = features_of(art("i", "x", STRIKE, ingested="2031-03-05T12:00:00+00:00"))
    assert bare.time.kind == "ingested"
    assert bare.time.days == day_number(datetime(2031, 3, 5, 12, tzinfo=UTC))
    published = article_time("2031-03-06T00:00:00+00:00", "2031-03-04", INGESTED)
    assert published.kind == "published" and published.days == day_number("2031-03-06")
    # a stated date joins the event of that day and stays away from one a month later
    c = EventClusterer()
    e = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    far = c.add(strike("b1", "outlet-three", STRIKE_LATER, "2031-04-06"))
    got = c.add(art("s2", "outlet-four", STRIKE_2, entities=MILITIA, places=CITY, dates=["2031-03-04"]))
    assert got.event_id == e.event_id != far.event_id


def test_an_ingested_only_article_is_bounded_by_the_lag_a_live_feed_allows():
    live = EventParams(ingested_lag_days=2.0)
    c = EventClusterer(params=live)
    e = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    fresh = c.add(art("f", "o2", STRIKE_2, entities=MILITIA, places=CITY, ingested="2031-03-05T08:00:00+00:00"))
    stale = c.add(art("g", "o3", STRIKE_2, entities=MILITIA, places=CITY, ingested="2031-06-05T08:00:00+00:00"))
    assert fresh.event_id == e.event_id and stale.event_id != e.event_id


def stream():
    return [strike("a1", "o1", STRIKE, "2031-03-04"), art("f1", "o2", FLOOD, published="2031-03-04T10:00:00Z",
                                                          places=[("الفيوم", 361055, "city")]),
            strike("a2", "o3", STRIKE_2, "2031-03-04"), strike("b1", "o4", STRIKE_LATER, "2031-04-06"),
            art("f2", "o5", FLOOD, published="2031-03-05T07:00:00Z", places=[("الفيوم", 361055, "city")])]


def test_replay_gives_the_same_ids_and_a_redelivered_article_keeps_its_event():
    runs = []
    for _ in range(2):
        c = EventClusterer(MemoryStore())
        runs.append([c.add(a).event_id for a in stream()])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == 3
    again = c.add(stream()[2])
    assert again.event_id == runs[1][2] and c.store.get(again.event_id).article_ids.count("a2") == 1


def test_a_state_round_trips_through_json():
    c = EventClusterer(MemoryStore())
    ids = [c.add(a).event_id for a in stream()]
    state = c.store.get(ids[0])
    back = EventState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert back == state


@pytest.mark.xfail(strict=True, reason="open in the events issue: with the corpus idf rebuilt, this bridging "
                   "article scores under the merge threshold against the second event")
def test_a_bridging_article_merges_two_events_into_the_older():
    # two partial reports of one incident: one names the people, the other the place and toll
    part_a = art("p1", "o1", "قال القيادي سامر الجبوري إن كتائب النصر فقدت 7 من عناصرها في قصف بطائرة مسيرة.",
                 published="2031-03-04T08:00:00Z", entities=MILITIA[:1] + MILITIA[2:])
    part_b = art("p2", "o2", "هزت انفجارات مخزنا للأسلحة قرب الجسر في مدينة الحلة وسقط 12 جريحا.",
                 published="2031-03-04T09:00:00Z", places=CITY)
    bridge = strike("p3", "o3", STRIKE, "2031-03-04")
    results = []
    for order in ((part_a, part_b, bridge), (part_a, part_b, bridge)):
        c = EventClusterer(MemoryStore())
        x, y, z = (c.add(a) for a in order)
        assert x.event_id != y.event_id
        assert z.merged == (y.event_id,) and z.event_id == x.event_id
        assert c.store.get(y.event_id).merged_into == x.event_id
        assert c.store.resolve(y.event_id) == x.event_id
        assert sorted(c.store.get(x.event_id).article_ids) == ["p1", "p2", "p3"]
        results.append((x.event_id, y.event_id, z.event_id))
    assert results[0] == results[1]


def test_light_stem_follows_light10():
    assert light_stem(normalize("والمدينة")) == normalize("مدين")
    assert light_stem(normalize("الانفجارات")) == normalize("انفجار")
    assert light_stem("2024") == "2024"


def test_the_event_day_is_the_lead_day_unless_it_is_background():
    from services.events.features import event_day
    assert event_day("2031-03-04", "2031-03-05T08:00:00+00:00") == "2031-03-04"
    assert event_day("2031-02-01", "2031-03-05T08:00:00+00:00") is None  # an old date: background
    assert event_day("2031-03-04", None) == "2031-03-04"
    assert event_day(None, "2031-03-05T08:00:00+00:00") is None
    f = features_of(strike("a1", "o1", STRIKE, "2031-03-04"))
    assert f.event_day == "2031-03-04"


def test_two_spellings_of_one_name_partly_match():
    # "عبد الكريم" / "عبدالكريم" are one name part; a shared surname is partial evidence
    a = features_of(art("x", "o", FLOOD, entities=[("PERS", "عبد الكريم الزهراني")]))
    b = features_of(art("y", "o", FLOOD, entities=[("PERS", "عبدالكريم الزهراني")]))
    c = features_of(art("z", "o", FLOOD, entities=[("PERS", "الزهراني")]))
    assert set(a.names) == set(b.names)
    assert set(a.names) & set(c.names) == {"N:" + normalize("زهراني")}


def test_a_report_of_the_day_after_that_states_another_day_needs_near_identical_text():
    # a text sharing only the names, stating the next day, stays apart ...
    c = EventClusterer()
    first = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    assert c.add(strike("n1", "outlet-two", FLOOD, "2031-03-05")).event_id != first.event_id
    # ... the same story restated with the next day as its lead joins
    c = EventClusterer()
    first = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    assert c.add(strike("n2", "outlet-three", STRIKE, "2031-03-05")).event_id == first.event_id
    state = c.store.get(first.event_id)
    assert state.event_days == {"2031-03-04": 1, "2031-03-05": 1}
    back = EventState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert back == state


def test_a_deadline_or_a_schedule_is_not_the_day_of_the_story():
    from services.events.features import lead_day
    body = "أعلنت الرئاسة أن الرئيس سيستقيل قبل نهاية عهدته المحددة في 28 نيسان، بعد تعيين الحكومة يوم 31 آذار."
    dates = [{"value": "2031-04-28", "start": body.index("28"), "end": body.index("28") + 8},
             {"value": "2031-03-31", "start": body.index("يوم 31"), "end": body.index("يوم 31") + 12}]
    assert lead_day(dates, None, body) == "2031-03-31"
    start = "يبدأ تنفيذ الاتفاق يوم الأحد 19 كانون الثاني"
    assert lead_day([{"value": "2031-01-19", "start": start.index("يوم"), "end": len(start)}], None, start) is None


def test_an_undated_page_is_placed_by_the_weekday_it_names():
    # no published_at and no resolvable date: "مساء الجمعة" still says which day it was
    friday, saturday = "2031-03-07", "2031-03-08"  # a Friday and a Saturday
    later = "2031-06-01T00:00:00+00:00"  # scraped months later: ingested_at says nothing more
    same = features_of(art("u1", "o3", STRIKE.replace("فجر اليوم", "مساء الجمعة"), entities=MILITIA, places=CITY,
                           ingested=later))
    assert same.weekday == 4 and same.time.kind == "ingested"
    c = EventClusterer()
    first = c.add(strike("a1", "outlet-one", STRIKE, friday))
    assert c.add_features(same).event_id == first.event_id
    c = EventClusterer()
    other = c.add(strike("b1", "outlet-one", STRIKE_LATER, saturday))
    tuesday = features_of(art("u2", "o3", STRIKE_LATER.replace("مساء اليوم", "مساء الثلاثاء"), entities=MILITIA,
                              places=CITY, ingested=later))
    assert tuesday.weekday == 1
    assert c.add_features(tuesday).event_id != other.event_id  # Tuesday is not that Saturday's story


def test_an_agenda_story_is_not_the_report_of_the_day_it_looks_forward_to():
    from services.events.features import upcoming_days
    # an undated page: "the vote is set for the 11th of next December" looks forward to 12-11
    body = "وضع الاتحاد التصويت على جدول أعمال مؤتمره، على أن يتم الإعلان عن الفائز في الحادي عشر من ديسمبر المقبل."
    assert upcoming_days([], None, body) == frozenset({"12-11"})
    # a dated page looks forward to the days after it ("حتى اليوم" is not ahead)
    dates = [{"value": "2031-12-09", "start": 0, "end": 5}, {"value": "2031-12-11", "start": 10, "end": 15}]
    assert upcoming_days(dates, "2031-12-09T08:00:00+00:00", "") == frozenset({"12-11"})
    vote = ("صوت مؤتمر الاتحاد اليوم على منح تنظيم البطولة للمدينة الساحلية، وأعلن رئيس الاتحاد فوز ملفها "
            "بالإجماع بعد عرض قدمه وفدها أمام الأعضاء.")
    agenda = ("وضع الاتحاد منح تنظيم البطولة للمدينة الساحلية على جدول أعمال مؤتمره، على أن يتم الإعلان عن "
              "فوز ملفها في الحادي عشر من ديسمبر المقبل بعد عرض يقدمه وفدها أمام الأعضاء.")
    ents = [("ORG", "الاتحاد القاري"), ("LOC", "المدينة الساحلية")]
    later = "2032-06-01T00:00:00+00:00"
    c = EventClusterer()
    report = c.add(art("v1", "o1", vote, published="2031-12-11T18:00:00+00:00", entities=ents, dates=["2031-12-11"]))
    assert c.add(art("g1", "o2", agenda, entities=ents, ingested=later)).event_id != report.event_id
    # without the look-ahead the same words join it
    c = EventClusterer()
    report = c.add(art("v1", "o1", vote, published="2031-12-11T18:00:00+00:00", entities=ents, dates=["2031-12-11"]))
    plain = agenda.replace("في الحادي عشر من ديسمبر المقبل", "")
    assert c.add(art("g2", "o2", plain, entities=ents, ingested=later)).event_id == report.event_id


def test_a_morning_report_of_last_nights_story_is_dated_to_the_night():
    from services.events.features import lead_day

    def mentions(body, *spans):
        return [{"value": v, "start": body.index(w), "end": body.index(w) + len(w)} for v, w in spans]

    body = ("أعلنت وزارة الداخلية صباح اليوم السبت حصيلة أولية للزلزال. "
            "وكان الزلزال قد وقع في ساعة متأخرة من مساء الجمعة.")
    dates = mentions(body, ("2031-03-08", "اليوم السبت"), ("2031-03-07", "الجمعة"))
    assert lead_day(dates, "2031-03-08T09:00:00Z", body) == "2031-03-07"
    # the morning alone, or an evening two days before, or a plain "yesterday": the lead day stays
    assert lead_day(dates[:1], "2031-03-08T09:00:00Z", body) == "2031-03-08"
    far = mentions(body, ("2031-03-08", "اليوم السبت"), ("2031-03-06", "الجمعة"))
    assert lead_day(far, "2031-03-08T09:00:00Z", body) == "2031-03-08"
    # dawn is when strikes happen, not a morning report: "فجر السبت" stays Saturday
    dawn = "نفذت الطائرات الضربات فجر السبت، وقال الرئيس ليل الجمعة إن العملية محدودة."
    assert lead_day(mentions(dawn, ("2031-03-08", "السبت"), ("2031-03-07", "الجمعة")),
                    "2031-03-08T09:00:00Z", dawn) == "2031-03-08"
    plain = "انفجرت أجهزة جديدة اليوم الأربعاء، بعد انفجارات أمس الثلاثاء."
    assert lead_day(mentions(plain, ("2031-03-12", "اليوم الأربعاء"), ("2031-03-11", "أمس الثلاثاء")),
                    "2031-03-12T12:00:00Z", plain) == "2031-03-12"


def test_a_features_record_gives_back_the_features():
    from services.events.features import features_from_record, features_record
    f = features_of(strike("a1", "outlet-one", STRIKE, "2031-03-04", title="قصف مقر كتائب النصر"))
    g = features_from_record(json.loads(json.dumps(features_record(f))))
    assert (g.words != f.words).nnz == 0 and g.names == f.names and g.days == f.days
    assert (g.time, g.numbers, g.event_day, g.weekday, g.upcoming, g.title, g.source) == \
        (f.time, f.numbers, f.event_day, f.weekday, f.upcoming, f.title, f.source)


def test_taking_a_member_out_gives_back_the_event_it_joined():
    c = EventClusterer()
    first = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    before = json.loads(json.dumps(c.store.get(first.event_id).to_dict()))
    c.add(strike("a2", "outlet-two", STRIKE_2, "2031-03-04", title="7 قتلى بقصف على الحلة"))
    state = c.store.get(first.event_id)
    c._subtract(state, features_of(strike("a2", "outlet-two", STRIKE_2, "2031-03-04", title="7 قتلى بقصف على الحلة")))
    after = json.loads(json.dumps(state.to_dict()))
    ws_before, ws_after = before.pop("word_sum"), after.pop("word_sum")
    names_before, names_after = before.pop("names"), after.pop("names")
    assert after == before
    assert ws_after.keys() == ws_before.keys() and all(abs(ws_after[k] - v) < 1e-9 for k, v in ws_before.items())
    assert names_after.keys() == names_before.keys()


LATER_DAY = "2031-03-08"
UNDATED_LATE = "2031-03-20T00:00:00+00:00"
LATER_TITLE = "ثلاثة قتلى بقصف مقر جديد لكتائب النصر ومخزن ذخيرة"


def test_an_undated_page_that_joined_a_look_alike_moves_when_its_own_story_arrives():
    # a page with no date at all is a copy of the report of the later strike; it came first
    page = art("u1", "outlet-four", STRIKE_LATER, title=LATER_TITLE, entities=MILITIA, places=CITY,
               ingested=UNDATED_LATE)
    later = strike("b1", "outlet-three", STRIKE_LATER, LATER_DAY, title=LATER_TITLE)
    c = EventClusterer()
    first = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    assert c.add(page).event_id == first.event_id  # the only event there was
    assert set(c.store.get(first.event_id).provisional) == {"u1"}
    b = c.add(later)
    assert b.opened and b.moved == (("u1", first.event_id),)
    assert c.store.assignment("u1") == b.event_id
    old, new = c.store.get(first.event_id), c.store.get(b.event_id)
    assert old.article_ids == ["a1"] and not old.provisional and old.sources == {"outlet-one": 1}
    assert old.entity_keys["ORG"][normalize("كتائب النصر")] == 1 and old.places[98182] == 1
    assert new.article_ids == ["b1", "u1"] and set(new.provisional) == {"u1"}
    assert c.add(page).event_id == b.event_id  # a redelivered page keeps where it went
    # the other order: the later report first, the page joins it at once
    c2 = EventClusterer()
    c2.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    b2 = c2.add(later)
    assert c2.add(page).event_id == b2.event_id


def test_a_page_that_was_alone_leaves_its_empty_event_merged_into_the_one_it_joins():
    page = art("u1", "outlet-four", STRIKE_LATER, title=LATER_TITLE, entities=MILITIA, places=CITY,
               ingested=UNDATED_LATE)
    c = EventClusterer(params=EventParams(threshold=0.99))  # each opens its own event
    alone, b = c.add(page), c.add(strike("b1", "outlet-three", STRIKE_LATER, LATER_DAY, title=LATER_TITLE))
    src, dst = c.store.get(alone.event_id), c.store.get(b.event_id)
    c._move(features_of(page), src, dst)
    assert src.size == 0 and src.merged_into == dst.event_id and c.store.resolve(alone.event_id) == b.event_id
    assert dst.article_ids == ["b1", "u1"] and c.store.assignment("u1") == b.event_id


def test_an_undated_page_moves_to_its_own_story_even_months_after_the_look_alike_it_joined():
    page = art("u1", "outlet-four", STRIKE_LATER, title=LATER_TITLE, entities=MILITIA, places=CITY,
               ingested="2031-09-01T00:00:00+00:00")
    c = EventClusterer()
    first = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    assert c.add(page).event_id == first.event_id
    b = c.add(strike("b1", "outlet-three", STRIKE_LATER, "2031-06-08", title=LATER_TITLE))
    # the March event is far outside the June article's candidate window, yet it is looked at
    june = features_of(strike("b2", "outlet-three", STRIKE_LATER, "2031-06-08"))
    assert first.event_id not in {e.event_id for e in c.store.candidates(c.query_for(june))}
    assert b.opened and b.moved == (("u1", first.event_id),)
    assert c.store.get(first.event_id).article_ids == ["a1"]


# a follow-up story (the funerals, the next day) recounts the strike of the day before ("أمس")
FUNERAL = ("شيع الآلاف في موكب حاشد جابت فيه الحشود شوارع المدينة وسط هتافات غاضبة ونعوش ملفوفة بالرايات، "
           "عناصر كتائب النصر الذين قتلوا أمس بقصف طائرة مسيرة استهدف مخزنا للأسلحة قرب الجسر، وتوعد القيادي "
           "سامر الجبوري بالثأر خلال كلمة ألقاها في المقبرة.")
FUNERAL_2 = ("تحول موكب التشييع الحاشد إلى تظاهرة غاضبة جابت شوارع المدينة ونعوش ملفوفة بالرايات، لعناصر كتائب "
             "النصر الذين قتلوا أمس بقصف طائرة مسيرة، وتوعد القيادي سامر الجبوري في المقبرة بالثأر.")
STRIKE_PAGE = "قتلى من عناصر كتائب النصر بقصف طائرة مسيرة على مخزن للأسلحة قرب الجسر."


def funeral(aid, source, body, hour):
    # its own day first (the lead), then the day it recounts
    return art(aid, source, body, published=f"2031-03-05T{hour}:00:00+03:00", entities=MILITIA, places=CITY,
               dates=["2031-03-05", "2031-03-04"])


def undated(aid, body):
    return art(aid, "outlet-four", body, entities=MILITIA, places=CITY, ingested=UNDATED_LATE)


def test_an_undated_page_covered_by_a_story_and_its_follow_up_goes_to_the_story():
    def place(params, follow_up_first=False):
        c = EventClusterer(params=params)
        arts = [strike("a1", "outlet-one", STRIKE, "2031-03-04"),
                funeral("b1", "outlet-two", FUNERAL, "12"), funeral("b2", "outlet-three", FUNERAL_2, "13")]
        if follow_up_first:  # a second extract worker ran ahead: the strike's report comes last
            arts = arts[1:] + arts[:1]
        ids = {a["article_id"]: c.add(a).event_id for a in arts}
        c.add(undated("u1", STRIKE_PAGE))
        assert ids["a1"] != ids["b1"] == ids["b2"]
        return c.store.resolve(c.store.assignment("u1")), ids
    # on content alone the page is a little closer to the follow-up, which retells the strike ...
    where, ids = place(EventParams(recap_share=0.0))
    assert where == ids["b1"]
    # ... but what both cover is the earlier story: the follow-up's own news is not in the page
    where, ids = place(EventParams())
    assert where == ids["a1"]
    c = EventClusterer()
    for a in (funeral("b1", "outlet-two", FUNERAL, "12"), funeral("b2", "outlet-three", FUNERAL_2, "13"),
              undated("u1", STRIKE_PAGE)):
        c.add(a)
    first = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))  # the page came before its story
    assert first.opened and [m for m, _ in first.moved] == ["u1"] and c.store.assignment("u1") == first.event_id


def test_an_undated_page_with_the_follow_up_s_own_news_stays_with_the_follow_up():
    c = EventClusterer()
    first = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    later = c.add(funeral("b1", "outlet-two", FUNERAL, "12"))
    c.add(funeral("b2", "outlet-three", FUNERAL_2, "13"))
    page = c.add(undated("u1", "موكب تشييع حاشد جاب شوارع المدينة بنعوش ملفوفة بالرايات لعناصر كتائب النصر، "
                               "وتوعد سامر الجبوري بالثأر في المقبرة."))
    assert later.event_id != first.event_id and page.event_id == later.event_id


def test_an_undated_page_never_merges_two_events_of_different_days():
    # no recap preference: the page goes to the follow-up, and the strike's event is the other one
    c = EventClusterer(params=EventParams(merge_threshold=0.0, merge_pair_threshold=0.0, recap_share=0.0))
    first = c.add(strike("a1", "outlet-one", STRIKE, "2031-03-04"))
    later = c.add(funeral("b1", "outlet-two", FUNERAL, "12"))
    assert later.event_id != first.event_id
    page = c.add(undated("u1", STRIKE_PAGE))
    assert page.merged == () and c.store.get(first.event_id).merged_into is None
    assert c.store.get(later.event_id).merged_into is None
    # a dated article may still bridge them (its own day is evidence of its own)
    bridge = c.add(strike("a2", "outlet-five", STRIKE_2, "2031-03-04"))
    assert bridge.merged


def test_an_undated_page_leaves_when_the_event_s_dated_reports_do_not_fit_it():
    # two pages with no date: a report of the announcement, then the agenda that announced its day
    report = art("u1", "outlet-one", "أعلن الاتحاد الدولي فوز المدينة بتنظيم البطولة بالتزكية بعد انسحاب المنافسين.",
                 entities=[("ORG", "الاتحاد الدولي")], ingested=UNDATED_LATE)
    agenda = art("u2", "outlet-two", "حدد الاتحاد الدولي موعد الإعلان الرسمي عن فوز المدينة بتنظيم البطولة في "
                 "الحادي عشر من ديسمبر المقبل بعد انسحاب المنافسين.", entities=[("ORG", "الاتحاد الدولي")],
                 ingested=UNDATED_LATE)  # a day and month with no year: no date, but a day it looks forward to
    c = EventClusterer()
    first = c.add(report)
    assert c.add(agenda).event_id == first.event_id  # nothing told them apart yet
    dated = c.add(art("a1", "outlet-three", "أعلن الاتحاد الدولي اليوم الأربعاء فوز المدينة بتنظيم البطولة بالتزكية "
                      "بعد انسحاب المنافسين.", entities=[("ORG", "الاتحاد الدولي")],
                      published="2030-12-11T18:00:00+00:00", dates=["2030-12-11"]))
    assert dated.event_id == first.event_id
    assert [a for a, _ in dated.evicted] == ["u2"]
    new_id = dated.evicted[0][1]
    assert c.store.assignment("u2") == new_id != first.event_id
    left, own = c.store.get(first.event_id), c.store.get(new_id)
    assert left.article_ids == ["u1", "a1"] and own.article_ids == ["u2"] and set(own.provisional) == {"u2"}
    assert c.add(agenda).event_id == new_id  # a redelivered page keeps where it went


def test_a_shared_country_alone_does_not_make_two_stories_one():
    usa = [("الولايات المتحدة", 6252001, "country")]
    storm = art("a1", "outlet-one", "ضربت عاصفة ثلجية عنيفة الساحل الشرقي وقلبت الرياح شاحنات على الطريق السريع "
                "ما أسفر عن مقتل خمسة أشخاص وانقطاع الكهرباء عن آلاف المنازل.", places=usa,
                published="2031-03-04T09:00:00+00:00", dates=["2031-03-04"])
    summit = art("u1", "outlet-two", "أبدى الزعيم استعداده لتجميد البرنامج النووي خلال القمة المرتقبة، في خطوة "
                 "رحب بها دبلوماسيون بوصفها بادرة حسن نية قبل المفاوضات.", places=usa, ingested=UNDATED_LATE)
    c = EventClusterer()
    first = c.add(storm)
    # with nothing in time to keep them apart, the one shared name used to carry it (0.35 × 1.0)
    assert EventClusterer(params=EventParams(names_words_floor=0.0)).score_many(
        features_of(summit), [c.store.get(first.event_id)])[0] >= EventParams().threshold
    assert c.add(summit).opened

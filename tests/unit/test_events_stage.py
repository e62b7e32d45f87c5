"""The events stage without services: event documents, trending, the cache store, merges and
what the index makes of reassignments."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from services.events.app import EventsStage, in_ingest_order
from services.events.cluster import EventParams
from services.events.docs import EventSummary, event_document, lead_sentence, trending
from services.events.features import features_of
from services.events.store import ElasticStore
from services.index.indexing import build_batch
from shared.arabic import normalize
from shared.schemas import ClusteredArticle, DateMention, EnrichedArticle, EventReassignment, GeoPoint, Place
from shared.settings import Settings

T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)

PORT = "انفجار ضخم في ميناء بيروت يقتل عشرة عمال ويدمر مستودعات الحبوب قرب الرصيف"
FLOOD = "فيضانات عارمة في الخرطوم تشرد آلاف الأسر وتغمر الأحياء الشرقية بالمياه"


def article(i: str, body: str, *, source: str = "wire", hours: float = 0, title: str | None = None,
            places: list[Place] | None = None) -> EnrichedArticle:
    """A made-up enriched article (normalized by the one table, no entities unless given)."""
    title = title if title is not None else body.split(" ")[0] + " " + body.split(" ")[1]
    return EnrichedArticle(article_id=i, source=source, title=title, body=body, url=f"https://example.org/{i}",
                           published_at=T0 + timedelta(hours=hours), ingested_at=T0 + timedelta(hours=hours + 1),
                           normalized_title=normalize(title), normalized_body=normalize(body),
                           places=places or [], topic="middleEast", content_hash="0" * 64)


def test_lead_sentence_is_the_first_real_sentence():
    assert lead_sentence("عاجل\nقال الوزير إن المحادثات ستستأنف غدا في العاصمة. وأضاف أن") == \
        "قال الوزير إن المحادثات ستستأنف غدا في العاصمة."
    assert lead_sentence("") == ""
    assert len(lead_sentence("كلمة " * 500)) == 400


def _iso(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def test_trending_is_a_rapid_rise_against_the_events_own_history():
    # a new event: three articles from two outlets within the window
    assert trending([_iso(0), _iso(1), _iso(2)], 2)[0] is True
    assert trending([_iso(0), _iso(1), _iso(2)], 1)[0] is False  # one outlet only
    assert trending([_iso(0), _iso(1)], 2)[0] is False  # too few
    # a steady three per window for two days is not a rise
    steady = [_iso(h) for h in range(0, 48, 2)]
    is_trending, score, recent = trending(steady, 3)
    assert not is_trending and recent == 3 and score < 2
    # the same history, then a burst of ten in the last window
    burst = steady + [_iso(47 + k / 10) for k in range(10)]
    assert trending(burst, 4)[0] is True


def test_event_document_has_the_contract_fields_and_the_most_central_headline():
    store = ElasticStore("events")
    stage_store_params = EventParams()
    from services.events.cluster import EventClusterer
    c = EventClusterer(store, stage_store_params)
    khartoum = Place(name="الخرطوم", geonameid=379252, country_code="SD", location=GeoPoint(lat=15.55, lon=32.53),
                     feature="city")
    arts = [article("a1", FLOOD, source="one", places=[khartoum], title="فيضانات في الخرطوم"),
            article("a2", FLOOD + " وتقول السلطات إن المياه بلغت مترين", source="two", hours=2, places=[khartoum],
                    title="الفيضانات تغمر الخرطوم")]
    for a in arts:
        f = features_of(a)
        r = c.add_features(f)
        store.summary(r.event_id).add(a, f)
    (event_id,) = {store.resolve(store.assignment(a.article_id)) for a in arts}
    doc = event_document(store.get(event_id), store.summary(event_id), updated_at=T0)
    for key in ("event_id", "title", "summary", "article_count", "source_count", "sources", "article_ids",
                "first_published_at", "last_published_at", "event_date", "entity_keys", "places", "topic",
                "trending", "updated_at"):
        assert key in doc, key
    assert doc["article_count"] == 2 and doc["source_count"] == 2 and sorted(doc["sources"]) == ["one", "two"]
    assert doc["article_ids"] == ["a1", "a2"]
    assert doc["title"] in ("فيضانات في الخرطوم", "الفيضانات تغمر الخرطوم")
    assert doc["summary"].startswith("فيضانات عارمة")
    assert doc["first_published_at"] == "2025-03-04T08:00:00Z" and doc["last_published_at"] == "2025-03-04T10:00:00Z"
    assert doc["places"][0]["location"] == {"lat": 15.55, "lon": 32.53} and doc["places"][0]["count"] == 2
    assert doc["topic"] == "middleEast"
    # the state round-trips through JSON (it is what the next worker reads back)
    back = json.loads(json.dumps(doc))
    assert EventSummary.from_dict(back["state"]["summary"]).to_dict() == store.summary(event_id).to_dict()


def test_store_queries_loads_hits_writes_back_and_evicts():
    store = ElasticStore("events", max_cached=1)
    stage = EventsStage.__new__(EventsStage)  # only the assignment part, no Elasticsearch
    stage.store, stage.clusterer = store, __import__("services.events.cluster", fromlist=["x"]).EventClusterer(store)
    a = article("p1", PORT)
    f = features_of(a)
    searches = store.lookup_queries(["p1"], [stage.clusterer.query_for(f)])
    assert searches[1] == {"size": 11, "query": {"terms": {"article_ids": ["p1"]}}}
    cand = searches[3]["query"]["bool"]
    assert cand["must_not"] == [{"exists": {"field": "merged_into"}}] and cand["minimum_should_match"] == 1
    second_look = searches[5]["query"]["bool"]  # events holding undated pages, at any time
    assert second_look["filter"][0] == {"range": {"provisional_count": {"gt": 0}}}
    assert not any("interval_lo_days" in json.dumps(x) for x in second_look["filter"])
    final, moved = stage._assign([(0, a, f)])
    actions = store.dirty_documents(updated_at=T0)
    assert [x["_id"] for x in actions] == [final[0]] and store.dirty_documents() == []
    # what a new worker reads back gives the same event for the same article
    fresh = ElasticStore("events")
    assert fresh.load_hits([{"_id": final[0], "_source": actions[0]["_source"]}]) == 1
    assert fresh.assignment("p1") == final[0]
    assert fresh.load_hits([{"_id": final[0], "_source": actions[0]["_source"]}]) == 0  # cached wins
    # over max_cached, written-back events are dropped least recently used first
    b = article("f1", FLOOD)
    stage._assign([(0, b, features_of(b))])
    store.dirty_documents()
    assert store.evict() == 1 and len(store.events) == 1


def test_a_bridging_article_merges_two_events_and_reassigns_the_articles_outside_its_batch():
    store = ElasticStore("events")
    stage = EventsStage.__new__(EventsStage)
    from services.events.cluster import EventClusterer
    stage.store = store
    stage.clusterer = EventClusterer(store, EventParams(merge_threshold=0.2, merge_pair_threshold=0.0))
    port, flood = article("p1", PORT), article("f1", FLOOD, hours=1)
    first, _ = stage._assign([(0, port, features_of(port)), (1, flood, features_of(flood))])
    assert first[0] != first[1]
    bridge = article("b1", PORT + " " + FLOOD, hours=2)
    final, moved = stage._assign([(0, bridge, features_of(bridge))])
    survivor = final[0]
    assert survivor == first[0]  # the older event survives
    assert moved == {"f1": (survivor, first[1])}
    loser = store.get(first[1])
    assert loser.merged_into == survivor and store.resolve(first[1]) == survivor
    docs = {a["_id"]: a["_source"] for a in store.dirty_documents(updated_at=T0)}
    assert docs[first[1]]["merged_into"] == survivor and docs[first[1]]["article_count"] == 0
    assert docs[survivor]["article_count"] == 3 and docs[survivor]["merged_from"] == [first[1]]
    # a redelivered article keeps its (surviving) event
    again, _ = stage._assign([(0, flood, features_of(flood))])
    assert again[0] == survivor


def test_index_applies_a_reassignment_to_the_article_or_folds_it_into_the_articles_own_write():
    art = article("x1", PORT)
    msg = ClusteredArticle(**art.model_dump(), event_id="e-old")
    move = EventReassignment(article_id="x1", event_id="e-new", merged_from="e-old")
    both = build_batch([msg.model_dump_json().encode(), move.model_dump_json().encode()], "idx")
    assert [a["_op_type"] for a in both.actions] == ["index"]
    assert both.actions[0]["_source"]["event_id"] == "e-new" and both.positions["x1"] == [0, 1]
    alone = build_batch([move.model_dump_json().encode(), b"not json"], "idx")
    assert alone.actions == [{"_op_type": "update", "_index": "idx", "_id": "x1", "doc": {"event_id": "e-new"}}]
    assert list(alone.invalid) == [1]
    # an enriched article without event_id (an older dead letter replayed) is still indexed
    old = build_batch([art.model_dump_json().encode()], "idx")
    assert old.actions[0]["_source"]["event_id"] is None


def test_the_settings_name_both_aliases():
    s = Settings()
    assert (s.index_alias, s.events_alias) == ("hadath-articles", "hadath-events")


def test_event_entity_keys_are_the_article_documents_keys_counted_by_member():
    from shared.schemas import Entity

    store = ElasticStore("events")
    from services.events.cluster import EventClusterer
    c = EventClusterer(store)
    body = FLOOD + " وقال عادل بابكر"
    start = body.index("الخرطوم")
    ents = [Entity(text="الخرطوم", label="LOC", start=start, end=start + 7, normalized="الخرطوم"),
            Entity(text="الخرطوم", label="LOC", start=start, end=start + 7, normalized="الخرطوم")]
    a = article("k1", body).model_copy(update={"entities": ents})
    f = features_of(a)
    r = c.add_features(f)
    store.summary(r.event_id).add(a, f)
    doc = event_document(store.get(r.event_id), store.summary(r.event_id))
    assert doc["entity_keys"]["LOC"] == [{"value": "الخرطوم", "count": 1, "display": "الخرطوم"}]  # one member, once
    assert doc["entity_keys"]["PERS"] == []


def test_a_hostile_run_of_letters_tagged_as_a_name_never_reaches_the_candidate_search():
    from shared.schemas import Entity

    body = "خبر عن مدينة " + "ب" * 80_000 + " نهاية"
    ent = Entity(text="ب" * 80_000, label="LOC", start=13, end=80_013, normalized="ب" * 80_000)
    f = features_of(article("h1", body).model_copy(update={"entities": [ent]}))
    assert all(len(n) <= 200 for n in f.names)
    store = ElasticStore("events")
    from services.events.cluster import EventClusterer
    for search in store.lookup_queries(["h1"], [EventClusterer(store).query_for(f)]):
        assert len(json.dumps(search, ensure_ascii=False)) < 10_000


def test_a_batch_is_assigned_in_the_feeds_order_whichever_extract_worker_finished_first():
    early, late, tie_b, tie_a = (article("p1", PORT, hours=0), article("p2", PORT, hours=2),
                                 article("t-b", FLOOD, hours=1), article("t-a", FLOOD, hours=1))
    batch = [(0, late, None), (1, tie_b, None), (2, early, None), (3, tie_a, None)]
    assert [a.article_id for _, a, _ in in_ingest_order(batch)] == ["p1", "t-a", "t-b", "p2"]
    assert [i for i, _, _ in in_ingest_order(batch)] == [2, 3, 1, 0]  # positions travel with them


def test_an_undated_page_moves_to_its_own_story_with_its_summary_and_a_reassignment():
    from services.events.cluster import EventClusterer
    from tests.unit.test_events_cluster import LATER_TITLE, STRIKE, STRIKE_LATER
    store = ElasticStore("events")
    stage = EventsStage.__new__(EventsStage)
    stage.store, stage.clusterer = store, EventClusterer(store)
    first = article("a1", STRIKE, source="outlet-one", title="قصف مقر كتائب النصر في الحلة")
    page = article("u1", STRIKE_LATER, source="outlet-four", title=LATER_TITLE).model_copy(
        update={"published_at": None, "ingested_at": T0 + timedelta(days=12)})
    later = article("b1", STRIKE_LATER, source="outlet-three", title=LATER_TITLE, hours=96)
    a = stage._assign([(0, first, features_of(first))])[0][0]
    joined, _ = stage._assign([(0, page, features_of(page))])
    assert joined[0] == a and store.summary(a).provisional.keys() == {"u1"}
    final, moved = stage._assign([(0, later, features_of(later))])
    b = final[0]
    assert b != a and moved == {"u1": (b, a)}
    old, new = store.summary(a), store.summary(b)
    assert [m.article_id for m in old.members] == ["a1"] and not old.provisional
    assert [m.article_id for m in new.members] == ["b1", "u1"] and new.provisional.keys() == {"u1"}
    docs = {d["_id"]: d["_source"] for d in store.dirty_documents(updated_at=T0)}
    assert docs[a]["article_count"] == 1 and docs[a]["article_ids"] == ["a1"]
    assert docs[b]["article_count"] == 2 and sorted(docs[b]["article_ids"]) == ["b1", "u1"]
    assert docs[b]["source_count"] == 2
    # what the index makes of it: the article document's event_id is updated
    msg = EventReassignment(article_id="u1", event_id=b, merged_from=a).model_dump_json().encode()
    assert build_batch([msg], "articles").actions == [
        {"_op_type": "update", "_index": "articles", "_id": "u1", "doc": {"event_id": b}}]
    # a worker reading the documents back has the page in its new event, ready to move again
    fresh = ElasticStore("events")
    fresh.load_hits([{"_id": k, "_source": v} for k, v in docs.items()])
    assert fresh.assignment("u1") == b and fresh.get(b).provisional.keys() == {"u1"}
    assert fresh.summaries[b].provisional.keys() == {"u1"}


def test_an_undated_page_that_no_longer_fits_leaves_with_its_summary_and_a_reassignment():
    from services.events.cluster import EventClusterer
    store = ElasticStore("events")
    stage = EventsStage.__new__(EventsStage)
    stage.store, stage.clusterer = store, EventClusterer(store)
    undated = {"published_at": None, "ingested_at": datetime(2031, 1, 5, tzinfo=UTC)}
    report = article("u1", "أعلن الاتحاد الدولي فوز المدينة بتنظيم البطولة بالتزكية بعد انسحاب المنافسين",
                     source="outlet-one").model_copy(update=undated)
    agenda = article("u2", "حدد الاتحاد الدولي موعد الإعلان الرسمي عن فوز المدينة بتنظيم البطولة في الحادي عشر "
                     "من ديسمبر المقبل بعد انسحاب المنافسين", source="outlet-two").model_copy(update=undated)
    dated = article("a1", "أعلن الاتحاد الدولي اليوم فوز المدينة بتنظيم البطولة بالتزكية بعد انسحاب المنافسين",
                    source="outlet-three").model_copy(update={"published_at": datetime(2030, 12, 11, 18, tzinfo=UTC),
                                                               "ingested_at": datetime(2030, 12, 11, 19, tzinfo=UTC),
                                                               "dates": [DateMention(text="اليوم", value="2030-12-11",
                                                                                     start=20, end=25)]})
    e = stage._assign([(0, report, features_of(report))])[0][0]
    assert stage._assign([(0, agenda, features_of(agenda))])[0][0] == e
    final, moved = stage._assign([(0, dated, features_of(dated))])
    assert final[0] == e and set(moved) == {"u2"}
    own, src = moved["u2"]
    assert src == e and own != e and store.assignment("u2") == own
    assert [m.article_id for m in store.summary(e).members] == ["u1", "a1"]
    assert [m.article_id for m in store.summary(own).members] == ["u2"]
    docs = {d["_id"]: d["_source"] for d in store.dirty_documents(updated_at=T0)}
    assert docs[e]["article_count"] == 2 and sorted(docs[e]["article_ids"]) == ["a1", "u1"]
    assert docs[own]["article_count"] == 1 and docs[own]["article_ids"] == ["u2"]


def test_reassignments_owed_by_a_batch_that_died_before_delivery_are_sent_by_its_replay():
    """A crash between writing the event documents and delivering the batch: the replay finds
    its articles in their events and owes nothing itself; the outbox in the documents it reads
    back makes it send the lost reassignment again, and the next batch empties the outbox."""
    from services.events.cluster import EventClusterer
    from tests.unit.test_events_cluster import LATER_TITLE, STRIKE, STRIKE_LATER

    def stage_on(store: ElasticStore) -> EventsStage:
        stage = EventsStage.__new__(EventsStage)
        stage.store, stage.clusterer = store, EventClusterer(store)
        return stage

    def written(store: ElasticStore) -> dict[str, dict]:
        return {d["_id"]: d["_source"] for d in store.dirty_documents(updated_at=T0)}

    store = ElasticStore("events")
    stage = stage_on(store)
    first = article("a1", STRIKE, source="outlet-one", title="قصف مقر كتائب النصر في الحلة")
    page = article("u1", STRIKE_LATER, source="outlet-four", title=LATER_TITLE).model_copy(
        update={"published_at": None, "ingested_at": T0 + timedelta(days=12)})
    later = article("b1", STRIKE_LATER, source="outlet-three", title=LATER_TITLE, hours=96)
    a = stage._assign([(0, first, features_of(first))])[0][0]
    stage._assign([(0, page, features_of(page))])
    index = written(store)  # what Elasticsearch holds before the batch that moves the page
    final, moved = stage._assign([(0, later, features_of(later))])
    b = final[0]
    assert moved == {"u1": (b, a)}
    docs = written(store)
    assert docs[b]["state"]["outbox"] == {"u1": a}  # owed in the document of b1's event
    index.update(docs)
    # ... the worker dies here: the documents are written, the reassignment never delivered
    fresh = ElasticStore("events")
    replay = stage_on(fresh)
    fresh.load_hits([{"_id": k, "_source": v} for k, v in index.items()])
    again, owed = replay._assign([(0, later, features_of(later))])
    assert again == {0: b} and owed == {"u1": (b, a)}  # sent again, to the event it is in now
    assert written(fresh) == {}  # nothing changed: the outbox stays until this is delivered
    fresh.clear_delivered()  # the next batch: the replay's outputs were delivered
    cleared = written(fresh)
    assert set(cleared) == {b} and "outbox" not in cleared[b]["state"]
    assert cleared[b]["article_ids"] == index[b]["article_ids"]
    # and the worker that did deliver empties its own outbox with its next batch the same way
    store.clear_delivered()
    assert "outbox" not in written(store)[b]["state"]

"""The stage handlers the Faust agents call, run without Kafka: outputs, drops and dead letters."""

from __future__ import annotations

import json

from services.extract.app import make_handler as extract_handler
from services.extract.extract import Extractor
from services.ingest.app import make_handler as ingest_handler
from services.normalize.app import handle as normalize_handle
from shared.schemas import EnrichedArticle, Entity, IngestedArticle, NormalizedArticle
from shared.settings import Settings

ARTICLE = {"source": "test", "title": "زيارة إلى البصرة",
           "body": "وصل وزير النقل إلى البصرة يوم الخميس 4 يناير 2024 لافتتاح ميناء جديد قرب بغداد.",
           "published_at": "2024-01-05T10:00:00+03:00"}


def test_ingest_outputs_keyed_by_article_id_forwards_repeats_and_fails_bad_input():
    handle = ingest_handler(Settings())
    raw = json.dumps(ARTICLE, ensure_ascii=False).encode()
    first, again, bad = handle([raw, raw, b"[1, 2]"])
    (key, value), = first.outputs
    art = IngestedArticle.model_validate_json(value)
    assert key.decode() == art.article_id and first.error is None
    # a repeat is forwarded with the same key: the index's _id makes it overwrite itself
    (key_again, value_again), = again.outputs
    assert key_again == key and IngestedArticle.model_validate_json(value_again).article_id == art.article_id
    assert bad.error is not None and bad.error.error_type == "not_an_object"


def test_the_same_body_from_another_outlet_is_another_article():
    handle = ingest_handler(Settings())
    a = json.dumps(ARTICLE, ensure_ascii=False).encode()
    b = json.dumps(ARTICLE | {"source": "other-outlet"}, ensure_ascii=False).encode()
    first, second = handle([a, b])
    ids = {IngestedArticle.model_validate_json(o.outputs[0][1]).article_id for o in (first, second)}
    assert len(ids) == 2


def test_normalize_then_extract_keeps_offsets_on_the_original_text():
    (ingested,) = ingest_handler(Settings())([json.dumps(ARTICLE, ensure_ascii=False).encode()])
    (normalized,) = normalize_handle([ingested.outputs[0][1]])
    norm = NormalizedArticle.model_validate_json(normalized.outputs[0][1])
    assert norm.signature and norm.normalized_body and norm.body == IngestedArticle.model_validate_json(
        ingested.outputs[0][1]).body
    (enriched,) = extract_handler(Extractor("gazetteer"))([normalized.outputs[0][1]])
    doc = EnrichedArticle.model_validate_json(enriched.outputs[0][1])
    assert {e.normalized for e in doc.entities if e.label == "LOC"} >= {"البصره", "بغداد"}
    for e in doc.entities:
        assert doc.body[e.start:e.end] == e.text
    assert any(d.value == "2024-01-04" for d in doc.dates)
    assert {p.country_code for p in doc.places} == {"IQ"}


def test_a_message_that_is_not_the_stage_schema_is_dead_lettered():
    (outcome,) = normalize_handle([b'{"article_id": 1}'])
    assert outcome.error is not None and outcome.error.error_type == "schema"
    (outcome,) = extract_handler(Extractor("gazetteer"))([b"{}"])
    assert outcome.error is not None and outcome.error.error_type == "schema"


def test_entity_keys_and_spans_leave_known_proclitics_out():
    from services.extract.extract import canonical, known_names
    from shared.schemas import Entity

    text = "زار الوفد ومصر ولبنان وبغداد"
    got = []
    for word in ("ومصر", "ولبنان", "وبغداد"):
        i = text.index(word)
        e = canonical(Entity(text=word, label="LOC", start=i, end=i + len(word), normalized=""), text, known_names())
        assert text[e.start:e.end] == e.text
        got.append((e.text, e.normalized))
    assert got == [("مصر", "مصر"), ("لبنان", "لبنان"), ("بغداد", "بغداد")]


def test_person_keys_lose_a_proclitic_only_before_a_known_name_part():
    from services.extract.extract import Extractor
    from shared.schemas import Entity

    ex = Extractor("gazetteer")
    got = {}
    for name in ("وهادي العامري", "ويحيى رسول", "وليد جنبلاط", "فراس الخطيب", "بلال فضل"):
        text = "قال " + name + " أمس"
        i = text.index(name)
        e = ex._canonical(Entity(text=name, label="PERS", start=i, end=i + len(name), normalized=""), text, set())
        assert text[e.start:e.end] == e.text
        got[name] = e.normalized
    assert got == {"وهادي العامري": "هادي العامري", "ويحيى رسول": "يحيي رسول", "وليد جنبلاط": "وليد جنبلاط",
                   "فراس الخطيب": "فراس الخطيب", "بلال فضل": "بلال فضل"}


def test_a_proclitic_is_stripped_when_the_article_names_the_entity_without_it():
    text = "قال هادي العامري إن الاجتماع انتهى، وهادي العامري يرأس الوفد."
    body = {"source": "t", "title": "خبر", "body": text}
    (ingested,) = ingest_handler(Settings())([json.dumps(body, ensure_ascii=False).encode()])
    (normalized,) = normalize_handle([ingested.outputs[0][1]])
    extractor = Extractor("gazetteer")
    start = text.index("وهادي")
    pers = [
        Entity(text="هادي العامري", label="PERS", start=4, end=16, normalized=""),
        Entity(text="وهادي العامري", label="PERS", start=start, end=start + 13, normalized=""),
    ]
    extractor.recognizer = type("Fixed", (), {"name": "fixed", "recognize_batch": lambda self, ts: [pers]})()
    (doc,) = extractor.extract_batch([NormalizedArticle.model_validate_json(normalized.outputs[0][1])])
    keys = [(e.text, e.normalized) for e in doc.entities if e.label == "PERS"]
    assert keys == [("هادي العامري", "هادي العامري"), ("هادي العامري", "هادي العامري")]


def test_extract_gives_every_article_a_topic_beside_the_feeds_own_category():
    match = {"source": "t", "title": "الهلال يفوز على النصر في الدوري", "category": "أخبار",
             "body": "فاز فريق الهلال على النصر بهدفين مقابل هدف في مباراة الدوري السعودي لكرة القدم "
                     "وسجل المهاجم الهدف الثاني في الدقيقة الأخيرة أمام جماهير الملعب."}
    market = {"source": "t", "title": "ارتفاع مؤشر البورصة",
              "body": "ارتفع المؤشر العام للبورصة بنسبة اثنين في المئة مع صعود أسهم البنوك وشركات "
                      "الطاقة وزيادة السيولة وتراجع أسعار الفائدة على القروض."}
    ingested = ingest_handler(Settings())([json.dumps(a, ensure_ascii=False).encode() for a in (match, market)])
    normalized = normalize_handle([o.outputs[0][1] for o in ingested])
    enriched = extract_handler(Extractor("gazetteer"))([o.outputs[0][1] for o in normalized])
    docs = [EnrichedArticle.model_validate_json(o.outputs[0][1]) for o in enriched]
    assert [d.topic for d in docs] == ["sport", "economy"]
    assert docs[0].category == "أخبار"

"""The stemmed fields blank out the names the recognizer tagged (:func:`shared.es.mask_names`,
issue #14), keeping every other word at its offsets; and the query side matches each word
stemmed or as itself (:func:`shared.search.text_clauses`)."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.arabic import entity_key, normalize
from shared.es import (STEMMED_FIELDS, bare_forms, document, mappings, mask_names, masked_entities,
                       with_stemmed_fields)
from shared.schemas import EnrichedArticle
from shared.search import STEMMED_MATCH, text_clauses


def _entity(body: str, text: str, label: str = "PERS") -> dict:
    start = body.index(text)
    return {"text": text, "label": label, "start": start, "end": start + len(text), "normalized": entity_key(text)}


def _same_elsewhere(original: str, masked: str) -> bool:
    """Same length and, outside the blanked characters, the same characters."""
    return len(original) == len(masked) and all(m in (o, " ") for o, m in zip(original, masked))


def test_a_tagged_span_becomes_spaces_of_its_length():
    body = "عزف الموسيقي قندلان مقطوعات على العود"
    out = mask_names(body, [(body.index("قندلان"), body.index("قندلان") + 6)])
    assert out == body.replace("قندلان", " " * 6)


def test_other_mentions_of_a_tagged_name_are_blanked_with_their_proclitics():
    body = "قال برهمين إن الشمس حارقة، وأكد لبرهمين وكبرهمين فلبرهمين وببرهمين والبرهمين ذلك"
    spans, words = masked_entities([_entity(body, "برهمين")])
    out = mask_names(body, spans, words)
    assert _same_elsewhere(body, out)
    assert out.split() == ["قال", "إن", "الشمس", "حارقة،", "وأكد", "ذلك"]


def test_a_mention_tagged_with_its_proclitic_blanks_the_bare_name_elsewhere():
    body = "وصل وبرهمين إلى المطار"
    title = "برهمين يصل"
    spans, words = masked_entities([_entity(body, "وبرهمين")])
    assert mask_names(body, spans, words).split() == ["وصل", "إلى", "المطار"]
    assert mask_names(title, [], words).split() == ["يصل"]


def test_spelling_variants_of_the_name_are_blanked_too():
    body = "كتبت سُمَيرية تقريرا ونشرت سميريه آخر"
    out = mask_names(body, *masked_entities([_entity(body, "سُمَيرية")]))
    assert out.split() == ["كتبت", "تقريرا", "ونشرت", "آخر"]


def test_a_protected_name_keeps_its_token_and_common_words_stay():
    body = "زار قلمان بيروت ولبنان"
    entities = [_entity(body, "قلمان"), _entity(body, "بيروت", "LOC")]
    out = mask_names(body, *masked_entities(entities))
    assert out.split() == ["زار", "بيروت", "ولبنان"]  # بيروت is protected: its stemmed token is safe


def test_multi_word_places_and_organizations_stay_stemmed_a_one_word_one_is_blanked():
    body = "أعلنت وزارة الزراعة في الضفة الغربية أن بلدة ذهبان تضررت وأن حماس رحبت"
    entities = [_entity(body, "وزارة الزراعة", "ORG"), _entity(body, "الضفة الغربية", "LOC"),
                _entity(body, "ذهبان", "LOC"), _entity(body, "حماس", "ORG")]
    out = mask_names(body, *masked_entities(entities))
    assert out.split() == ["أعلنت", "وزارة", "الزراعة", "في", "الضفة", "الغربية", "أن", "بلدة", "تضررت", "وأن", "رحبت"]


def test_a_person_span_of_several_words_is_blanked_whole():
    body = "استقبل قندل بن زمردان الوفد ومحمد"
    out = mask_names(body, *masked_entities([_entity(body, "قندل بن زمردان")]))
    assert out.split() == ["استقبل", "الوفد", "ومحمد"]
    body = "استقبل محمد بن زمردان الوفد"   # محمد is protected: its token is safe already
    assert mask_names(body, *masked_entities([_entity(body, "محمد بن زمردان")])).split() == ["استقبل", "محمد", "الوفد"]


def test_offsets_are_kept_in_utf16_code_units_around_astral_characters():
    body = "قال 😀زمردان😀 كلمة"
    assert mask_names(body, [], frozenset({"زمردان"})) == body.replace("زمردان", " " * 6)
    title = "زمردان\U0001d400"  # a letter outside the BMP inside the word
    masked = mask_names(title, [], frozenset({normalize(title)}))
    assert masked.strip() == "" and len(masked.encode("utf-16-le")) == len(title.encode("utf-16-le"))


def test_nothing_to_blank_leaves_the_text():
    assert mask_names("نص بلا أسماء") == "نص بلا أسماء"
    assert mask_names("", [(0, 3)]) == ""


def test_bare_forms_strip_proclitics_and_the_article():
    assert bare_forms("وزمردان") == ["زمردان"]
    assert bare_forms("والزمردان") == ["الزمردان", "زمردان"]
    assert bare_forms("زمردان") == []


def test_the_document_carries_the_stemmed_fields_the_mapping_declares():
    title, body = "زمردان يعزف", "عزف الموسيقي زمردان مقطوعات على العود"
    article = EnrichedArticle.model_validate({
        "article_id": "a1", "title": title, "body": body, "ingested_at": datetime(2026, 1, 1, tzinfo=UTC),
        "content_hash": "h", "normalized_title": normalize(title), "normalized_body": normalize(body),
        "entities": [_entity(body, "زمردان")]})
    doc = document(article)
    assert doc["body_stemmed"] == body.replace("زمردان", " " * 6)
    assert doc["title_stemmed"] == title.replace("زمردان", " " * 6)
    assert set(STEMMED_FIELDS.values()) <= set(mappings()["properties"])


def test_a_migrated_document_gets_its_stemmed_fields_from_its_entities():
    body = "عزف زمردان"
    legacy = {"article_id": "a1", "title": "زمردان", "body": body, "entities": [_entity(body, "زمردان")]}
    assert with_stemmed_fields(dict(legacy))["body_stemmed"] == "عزف       "
    assert with_stemmed_fields({"article_id": "a2", "title": "لبنان يرحب"}) == {
        "article_id": "a2", "title": "لبنان يرحب", "title_stemmed": "لبنان يرحب"}
    bad = {"body": "قصير", "entities": [{"text": "زمردان", "label": "PERS", "start": 40, "end": 46}]}
    assert with_stemmed_fields(bad)["body_stemmed"] == "قصير"  # offsets outside the body are ignored


def test_each_word_matches_stemmed_or_as_itself_and_a_tagged_name_only_as_itself():
    must, _ = text_clauses("وزمردان يعزف", names=["وزمردان"])
    name, rest = must
    assert all(STEMMED_MATCH[1] not in q["combined_fields"]["fields"] for q in name["dis_max"]["queries"])
    assert [q["combined_fields"]["query"] for q in name["dis_max"]["queries"]] == ["وزمردان", "زمردان"]
    assert rest["dis_max"]["queries"][0]["combined_fields"]["fields"] == STEMMED_MATCH
    must, _ = text_clauses("عزف - العود")  # punctuation is no word
    assert must[0]["bool"]["minimum_should_match"] == "100%" and len(must[0]["bool"]["should"]) == 2
    # a protected name has no bare forms (وليد is not و + ليد)
    (word,) = text_clauses("وليد")[0]
    assert not any(q.get("combined_fields", {}).get("fields") == ["names"] for q in word["dis_max"]["queries"])
    # a document without the stemmed fields (not written by the index stage) is matched on title/body
    fallback = word["dis_max"]["queries"][1]["bool"]
    assert fallback["must"][0]["combined_fields"]["fields"] == ["title^2", "body"]
    assert {c["exists"]["field"] for c in fallback["must_not"]} == set(STEMMED_FIELDS.values())

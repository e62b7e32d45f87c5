"""Hostile text never stalls a stage: each hostile message is indexed cleaned or dead-lettered
with a reason a person can act on, and the good article sent after it comes out normally.

The three stage handlers run in process, in sequence (ingest -> normalize -> extract with the
default recognizer), on batches of [hostile message, good article]. Every test has a hang guard
(``pytest.mark.timeout``): the patterns measured quadratic before (``bench/bench_hostile.py``)
took from seconds to minutes at these sizes. The guard is not a speed assertion.
"""

from __future__ import annotations

import json

import pytest

from shared.arabic import tokenize_spans

from services.extract.app import make_handler as extract_handler
from services.extract.extract import Extractor
from services.ingest.app import make_handler as ingest_handler
from services.normalize.app import handle as normalize_handle
from shared.arabic import entity_key, normalize
from shared.schemas import EnrichedArticle, IngestedArticle
from shared.settings import Settings

GOOD = {
    "source": "hostile-test", "url": "https://example.org/good", "title": "وصول الوفد",
    "body": "وصل وزير الخارجية إلى بغداد يوم الخميس 4 يناير 2024 في زيارة تستمر يومين.",
    "published_at": "2024-01-05T10:00:00+03:00",
}
# an article to wrap hostile runs in (so the gate has Arabic letters to accept)
LEAD = "قال المتحدث باسم الحكومة إن الاجتماع عقد في عمان صباح اليوم."
TAIL = "وأضاف أن المحادثات ستستأنف الأسبوع المقبل في القاهرة."


def raw(body: str, **fields) -> bytes:
    return json.dumps({"source": "hostile-test", "title": "خبر", **fields, "body": body},
                      ensure_ascii=False).encode()


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor(Settings().recognizer)


def run_pipeline(extractor: Extractor, hostile: bytes):
    """``(outcome of the hostile message at ingest, its enriched docs, the good enriched doc)``."""
    good = json.dumps(GOOD, ensure_ascii=False).encode()
    first, second = ingest_handler(Settings())([hostile, good])
    assert second.error is None, second.error
    values = [v for _, v in first.outputs] + [v for _, v in second.outputs]
    normalized = normalize_handle(values)
    assert all(o.error is None for o in normalized), [o.error for o in normalized]
    enriched = extract_handler(extractor)([o.outputs[0][1] for o in normalized])
    assert all(o.error is None for o in enriched), [o.error for o in enriched]
    docs = [EnrichedArticle.model_validate_json(o.outputs[0][1]) for o in enriched]
    for doc in docs:
        for e in doc.entities:
            assert doc.body[e.start:e.end] == e.text
    good_doc = docs[-1]
    assert good_doc.body == GOOD["body"]
    assert {e.normalized for e in good_doc.entities if e.label == "LOC"} >= {"بغداد"}
    assert any(d.value == "2024-01-04" for d in good_doc.dates)
    return first, docs[:-1], good_doc


def indexed(extractor: Extractor, hostile: bytes) -> list[EnrichedArticle]:
    first, docs, _ = run_pipeline(extractor, hostile)
    assert first.error is None, first.error
    assert docs
    return docs


def dead_lettered(extractor: Extractor, hostile: bytes, error_type: str, *words: str) -> str:
    first, docs, _ = run_pipeline(extractor, hostile)
    assert first.error is not None and not docs
    assert first.error.error_type == error_type, first.error
    for w in words:
        assert w in str(first.error), first.error
    return str(first.error)


# --------------------------------------------------------------------------- indexed, cleaned


@pytest.mark.timeout(60)
@pytest.mark.parametrize("run", [
    " " * 100_000,
    " \t" * 50_000,
    "\n" * 20_000,
    "\u064e" * 100_000,                       # fatha alone, 100k
    "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652" * 12_500,
    "\u200f" * 20_000,                        # RLM
    "ب\u200d" * 10_000,                       # ZWJ between letters
    "ـ" * 100_000,                            # tatweel
])
def test_long_runs_inside_an_article_are_indexed(extractor, run):
    (doc,) = indexed(extractor, raw(LEAD + run + TAIL))
    assert doc.body.startswith(LEAD[:20]) and doc.body.endswith(TAIL)


@pytest.mark.timeout(60)
def test_marks_after_one_letter_are_one_word(extractor):
    (doc,) = indexed(extractor, raw("ب" + "\u064e" * 100_000))
    assert doc.normalized_body == "ب" and tokenize_spans(doc.body) == [(0, 100_001)]


@pytest.mark.timeout(60)
def test_ten_thousand_paragraphs_and_lines(extractor):
    (doc,) = indexed(extractor, raw("خبر عاجل.\n\n" * 10_000))
    assert doc.body.count("\n\n") == 9_999
    (doc,) = indexed(extractor, raw("سطر\n" * 10_000))
    assert doc.body.count("\n") == 9_999


@pytest.mark.timeout(60)
def test_one_token_of_100k_letters(extractor):
    (doc,) = indexed(extractor, raw(LEAD + " " + "ب" * 100_000 + " " + TAIL))
    assert any(end - start == 100_000 for start, end in tokenize_spans(doc.body))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("run", [
    "." * 10_000, "!؟،" * 3_000, "١2٣4٥6" * 2_000, "1.1." * 2_500, "12/" * 3_000,
])
def test_punctuation_and_digit_runs_inside_an_article(extractor, run):
    (doc,) = indexed(extractor, raw(LEAD + " " + run + " " + TAIL))
    assert run[:50] in doc.body


@pytest.mark.timeout(60)
@pytest.mark.parametrize("inner", ["_" * 100_000, "." * 100_000, "\u0300" * 100_000, "😀" * 50_000])
def test_entity_keys_of_names_with_long_runs_inside(inner):
    assert entity_key("«ب" + inner + "ب»") == "ب" + normalize(inner) + "ب"


@pytest.mark.timeout(60)
def test_a_name_with_100k_underscores_or_marks_inside(extractor):
    (doc,) = indexed(extractor, raw(LEAD + " محمد" + "_" * 100_000 + "علي " + "بغ" + "\u064e" * 100_000 + "داد"))
    assert "بغداد" in {e.normalized for e in doc.entities}


@pytest.mark.timeout(60)
def test_read_also_markers_and_month_names(extractor):
    (doc,) = indexed(extractor, raw("اقرأ أيضا\n\n" * 10_000 + LEAD))
    assert doc.body == LEAD  # the markers are page furniture
    (doc,) = indexed(extractor, raw(LEAD + " " + "مارس " * 5_000 + "يناير/" * 2_000 + TAIL))
    assert doc.body.startswith(LEAD)


@pytest.mark.timeout(60)
def test_bom_nul_and_controls_are_removed():
    handle = ingest_handler(Settings())
    body = "\ufeff" + "وصل\x00 الوفد\x01 إلى\x0bبغداد\x1fصباحا\x7f\x85أمس\ufeff"
    (out,) = handle([b"\xef\xbb\xbf" + raw(body, title="\ufeffعنوان\x00 الخبر")])
    (story,) = [IngestedArticle.model_validate_json(v) for _, v in out.outputs]
    assert story.body == "وصل الوفد إلى\nبغداد صباحا\nأمس"
    assert story.title == "عنوان الخبر"


@pytest.mark.timeout(60)
def test_crlf_and_separators_become_newlines():
    (out,) = ingest_handler(Settings())([raw("سطر أول\r\nسطر ثان\rسطر ثالث\u2028سطر رابع")])
    (story,) = [IngestedArticle.model_validate_json(v) for _, v in out.outputs]
    assert story.body == "سطر أول\nسطر ثان\nسطر ثالث\nسطر رابع"


@pytest.mark.timeout(60)
def test_lone_surrogate_is_replaced_and_the_story_serializes(extractor):
    hostile = ('{"title": "\\ud83d", "body": "' + LEAD + ' \\ude00"}').encode()
    (doc,) = indexed(extractor, hostile)
    assert doc.title == "\ufffd" and doc.body == LEAD + " \ufffd"


@pytest.mark.timeout(60)
def test_published_at_of_100k_characters_is_kept_as_none(extractor):
    (doc,) = indexed(extractor, raw(LEAD, published_at="١2٣4 يناير " * 10_000))
    assert doc.published_at is None


@pytest.mark.timeout(60)
def test_html_nested_10000_deep_and_unclosed_markup(extractor):
    (doc,) = indexed(extractor, raw("<div>" * 10_000 + LEAD + "</div>" * 10_000, content_type="text/html"))
    assert doc.body == LEAD
    (doc,) = indexed(extractor, raw("<p>" + LEAD + "</p>" + "<!--ن>" * 10_000, content_type="text/html"))
    assert doc.body.startswith(LEAD)  # the unclosed comments are text (or, in newer Pythons, dropped)
    (doc,) = indexed(extractor, raw("<p>" + LEAD + "</p><![foo[ x ]]>" + TAIL, content_type="text/html"))
    assert doc.body == LEAD + "\n" + TAIL  # an unknown marked section is dropped, not fatal


# --------------------------------------------------------------------------- dead-lettered


@pytest.mark.timeout(60)
def test_unclosed_tags_are_text_and_latin_text_is_refused(extractor):
    dead_lettered(extractor, raw("<p>" + LEAD + "</p>" + "<a " * 17_000, content_type="text/html"),
                  "unsupported_language", "Arabic")
    dead_lettered(extractor, raw("<p>" + LEAD + "</p><a " + "x" * 50_000, content_type="text/html"),
                  "unsupported_language", "Arabic")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("body", ["😀" * 5_000, "\u064e" * 100_000, "." * 100_000, "\u200f" * 100_000])
def test_bodies_without_letters_are_refused_saying_so(extractor, body):
    dead_lettered(extractor, raw(body), "unsupported_language", "no letters")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("body", ["\x00" * 100_000, "\ufeff \x00\t"])
def test_bodies_of_control_characters_are_blank(extractor, body):
    dead_lettered(extractor, raw(body), "empty_body", "'body' is blank")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("value", [b"[" * 100_000, b'{"a":' * 100_000, b'{"body": ' + b"[" * 100_000])
def test_json_nested_100k_deep_is_invalid_json(extractor, value):
    dead_lettered(extractor, value, "invalid_json", "nested too deeply", "flat JSON object")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("field", ["title", "body", "published_at"])
def test_nested_objects_in_a_field_are_refused_by_the_schema(extractor, field):
    nested = '{"a": ' * 500 + "1" + "}" * 500
    value = ('{"body": "' + LEAD + '", "' + field + '": ' + nested + "}").encode()
    dead_lettered(extractor, value, "schema", f"'{field}' must be a string", "got object")


@pytest.mark.timeout(60)
def test_invalid_utf8_is_refused_with_its_offset(extractor):
    value = raw(LEAD).replace("المتحدث".encode(), b"\xff\xfe")
    dead_lettered(extractor, value, "invalid_utf8", "byte offset", "UTF-8")


@pytest.mark.timeout(60)
def test_crf_recognizer_on_one_word_repeated_with_8000_neighbours():
    from services.extract.ner.crf import CrfRecognizer

    letters = "بتثجحخدذرزسشصضطظعغفقكلمنهوي"

    def word(i: int) -> str:  # a distinct made-up word per i
        return "".join(letters[(i // len(letters) ** k) % len(letters)] for k in range(4))

    text = " ".join(f"{word(i)} التي {word(i + 1)}." for i in range(8_000))
    entities = CrfRecognizer().recognize(text)
    assert all(text[e.start:e.end] == e.text for e in entities)

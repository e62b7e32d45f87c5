"""Arabic search that sees through spelling variation and keeps names whole (search half).

One isolated pipeline for the module (real Kafka, real Elasticsearch, the four services):
short articles written for these tests, one per kind of variation, go through the pipeline and
are then searched through :func:`shared.search.search` (the index analyzer, as Kibana does).
Matching is judged by title: the article of a kind must (or must not) be among the hits.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator

import pytest

from shared.arabic import normalize
from hadath.sandbox import Pipeline, cleanup, start
from shared.search import parse_entity_filter
from tests.conftest import shared_file
from tests.integration.conftest import jsonl_bytes

pytestmark = pytest.mark.integration

RLM, LRM, ZWJ, ZWNJ, BOM = "\u200f", "\u200e", "\u200d", "\u200c", "\ufeff"

# Letters that do not join the following letter (their next letter takes an initial/isolated form).
_NON_JOINING = set("اأإآدذرزوؤة")
_FORM_NAMES = {"ا": "ALEF", "ب": "BEH", "ت": "TEH", "ح": "HAH", "د": "DAL", "ر": "REH", "س": "SEEN",
               "ع": "AIN", "ف": "FEH", "ق": "QAF", "ل": "LAM", "م": "MEEM", "ن": "NOON", "ه": "HEH",
               "و": "WAW", "ي": "YEH", "ك": "KAF", "ط": "TAH", "ص": "SAD", "ج": "JEEM", "غ": "GHAIN"}


def presentation_forms(word: str) -> str:
    """``word`` written with Arabic presentation forms (contextual shapes, U+FE70..U+FEFF)."""
    out = []
    for i, ch in enumerate(word):
        joins_prev = i > 0 and word[i - 1] not in _NON_JOINING
        joins_next = i + 1 < len(word) and ch not in _NON_JOINING
        shape = {(False, False): "ISOLATED", (False, True): "INITIAL",
                 (True, True): "MEDIAL", (True, False): "FINAL"}[(joins_prev, joins_next)]
        try:
            out.append(unicodedata.lookup(f"ARABIC LETTER {_FORM_NAMES[ch]} {shape} FORM"))
        except KeyError:  # letters with only isolated/final forms
            out.append(unicodedata.lookup(f"ARABIC LETTER {_FORM_NAMES[ch]} FINAL FORM"))
    return "".join(out)


# (title, body): each kind's article; titles are unique, queries below are written differently.
ARTICLES: dict[str, tuple[str, str]] = {
    "wasla_hamza": ("ٱفتتاح سدّ جديد قرب أسوان",
                    "أعلنت ٱلحكومة ٱفتتاح سد على ٱلنيل قرب مدينة أسوان، وقال مسؤول إن ٱلمشروع اكتمل."),
    "diacritics": ("مَدْرَسَةٌ جَدِيدَةٌ فِي حِمْصَ",
                   "اِفْتَتَحَ المُحَافِظُ مَدْرَسَةً جَدِيدَةً فِي حِمْصَ تَتَّسِعُ لِأَلْفِ تِلْمِيذٍ."),
    "tatweel": ("مهرجـــان الشعـــر في سوســـة",
                "انطلق مهرجـــان الشعر في مدينة سوســـة الساحلية بمشاركة واسعـــة."),
    "persian_letters": ("زیارة وفد إلی کرکوک",
                        "وصل وفد حکومي إلی کرکوک لبحث مشاریع الطاقة فی المحافظة."),
    "maksura_teh": ("مبنى البلديه الجديد في صيدا",
                    "دشن رئيس البلديه المبنى الجديد الذي بني على مساحة واسعه."),
    "arabic_indic_digits": ("ميزانية التعليم لعام ٢٠٣١",
                            "أقر البرلمان ميزانية التعليم لعام ٢٠٣١ بزيادة ٧ في المئة."),
    "persian_digits": ("خطة النقل حتى ۱۹۸۷ تعود للنقاش",
                       "عادت خطة النقل التي وضعت عام ۱۹۸۷ إلى طاولة النقاش في المجلس."),
    "clitic_li": ("قطار سريع لبغداد قريبا", "يربط قطار سريع جديد المحافظات الجنوبية لبغداد خلال عامين."),
    "clitic_bi": ("معرض للزهور ببغداد", "افتتح معرض للزهور ببغداد بمشاركة عشرين دولة."),
    "clitic_wa": ("الأمطار تغرق الشوارع وبغداد تستنفر", "هطلت أمطار غزيرة وبغداد تستنفر فرق الطوارئ."),
    "clitic_lil_name": ("دعم دولي للبنان في أزمة الكهرباء", "تعهد المانحون بتقديم دعم للبنان لتجاوز أزمة الكهرباء."),
    "invisible": (f"معرض الك{ZWNJ}تب في ح{ZWJ}لب يجذب الز{RLM}وار وال{LRM}طلاب و{BOM}الباحثين",
                  f"يستمر معرض الك{ZWNJ}تب في ح{ZWJ}لب أسبوعا."),
    "presentation": (f"{presentation_forms('حفل')} {presentation_forms('موسيقي')} في {presentation_forms('الرباط')}",
                     f"أقيم {presentation_forms('حفل')} {presentation_forms('موسيقي')} في المسرح الوطني."),
    # stemmer precision: a name and the common word its stem collides with
    "milk": ("مصنع جديد لإنتاج اللبن والجبن", "افتتح مستثمرون مصنعا لإنتاج اللبن والزبدة في الريف."),
    "lebanon": ("لبنان يستضيف مؤتمر الطاقة", "يستضيف لبنان مؤتمرا إقليميا للطاقة المتجددة الشهر المقبل."),
    "palestine": ("منتخب فلسطين يتأهل", "تأهل منتخب فلسطين لكرة القدم إلى الدور الثاني من البطولة."),
    "sea": ("أمواج البحر تعلو على الشاطئ", "حذرت الأرصاد من ارتفاع أمواج البحر وطلبت من الصيادين الحذر."),
    "bahrain": ("البحرين تستضيف سباق السيارات", "تستضيف البحرين سباقا دوليا للسيارات نهاية الأسبوع."),
    "baghdad_plain": ("افتتاح جسر جديد في بغداد", "افتتحت أمانة بغداد جسرا جديدا فوق نهر دجلة."),
}


@pytest.fixture(scope="module")
def pipe(infrastructure) -> Iterator[Pipeline]:
    """ONE isolated pipeline for the module, fed with :data:`ARTICLES`."""
    p = start(1)
    try:
        p.send_raw(*jsonl_bytes(*({"source": f"test-{kind}", "title": t, "body": b}
                                  for kind, (t, b) in ARTICLES.items())))
        p.wait()
        yield p
    finally:
        cleanup(p.settings)


def _titles(pipe: Pipeline, query: str, **kwargs) -> set[str]:
    return {normalize(h["title"] or "") for h in pipe.search(query, size=100, **kwargs)["hits"]}


def _matches(pipe: Pipeline, query: str, title: str) -> bool:
    return normalize(title) in _titles(pipe, query)


def test_every_article_was_indexed(pipe):
    titles = {normalize(d["title"]) for d in pipe.docs()}
    assert {normalize(t) for t, _ in ARTICLES.values()} <= titles


@pytest.mark.parametrize(("query", "kind"), [
    ("افتتاح اسوان", "wasla_hamza"),             # ٱ and أ written as bare alef
    ("إفتتاح أسوان", "wasla_hamza"),             # hamza written where the text has wasla
    ("مدرسة جديدة حمص", "diacritics"),
    ("مهرجان سوسة", "tatweel"),
    ("زيارة الى كركوك", "persian_letters"),      # ی ک in the text, ي ك in the query
    ("کرکوک", "persian_letters"),
    ("مبني البلدية", "maksura_teh"),             # ى/ي and ة/ه both ways
    ("2031", "arabic_indic_digits"),
    ("٢٠٣١", "arabic_indic_digits"),
    ("1987", "persian_digits"),
    ("١٩٨٧", "persian_digits"),
    ("الكتب", "invisible"), ("حلب", "invisible"), ("الزوار", "invisible"),
    ("الطلاب", "invisible"), ("الباحثين", "invisible"),
    ("حفل موسيقي", "presentation"),
    ("الرباط", "presentation"),
    ("لبنان", "clitic_lil_name"),                # للبنان in the text
    ("لبنان", "lebanon"),
    ("فلسطين", "palestine"),
    ("البحرين", "bahrain"),
    ("بحرين", "bahrain"),
])
def test_spelling_variant_matches(pipe, query, kind):
    assert _matches(pipe, query, ARTICLES[kind][0]), (query, kind, _titles(pipe, query))


@pytest.mark.parametrize("kind", ["clitic_li", "clitic_bi", "clitic_wa", "baghdad_plain"])
@pytest.mark.parametrize("query", ["بغداد", "لبغداد", "وبغداد", "ﺑﻐﺪﺍﺩ"])
def test_proclitics_on_a_name_match(pipe, query, kind):
    """بغداد finds text that has only لبغداد / ببغداد / وبغداد (and every form finds them all)."""
    assert _matches(pipe, query, ARTICLES[kind][0]), (query, kind, _titles(pipe, query))


@pytest.mark.parametrize(("query", "kind"), [
    ("لبنان", "milk"),       # لبنان must not become لبن (milk)
    ("للبنان", "milk"),
    ("البحرين", "sea"),      # البحرين must not become بحر (sea)
    ("بالبحرين", "sea"),
    ("اللبن", "lebanon"),    # and the common word does not find the name
    ("البحر", "bahrain"),
])
def test_a_name_does_not_match_its_stems_common_word(pipe, query, kind):
    assert not _matches(pipe, query, ARTICLES[kind][0]), (query, kind, _titles(pipe, query))


def test_common_word_still_matches_itself(pipe):
    assert _matches(pipe, "اللبن", ARTICLES["milk"][0])
    assert _matches(pipe, "البحر", ARTICLES["sea"][0])


def test_entity_filter_is_the_same_for_every_spelling(pipe):
    totals = {}
    for spelling in ("بغداد", "وبغداد", "ﺑﻐﺪﺍﺩ", "لبغداد"):
        label, key = parse_entity_filter(f"LOC:{spelling}")
        assert (label, key) == ("LOC", "بغداد"), spelling
        totals[spelling] = pipe.search(None, entities=[(label, key)])["total"]
    assert len(set(totals.values())) == 1, totals
    assert totals["بغداد"] >= 1, totals


def test_facet_values_are_whole_names(pipe):
    facets = pipe.search("فلسطين")["facets"]
    values = {f["value"] for label in ("LOC", "PERS", "ORG", "MISC") for f in facets[label]}
    assert "فلسط" not in values, values
    assert "فلسطين" in values, facets


# ------------------------------------------------------------------ the shared cases files

@pytest.mark.corpus
def test_cases_files(pipe):
    """Every line of ``spelling-variants.jsonl`` and ``stemmer-precision.jsonl``: its ``expect``
    (match / no match by title; "match both words": each word of the query matches)."""
    cases = []
    for name in ("spelling-variants.jsonl", "stemmer-precision.jsonl"):
        path = shared_file("cases", name)
        cases += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    pipe.send_raw(*jsonl_bytes(*({k: c[k] for k in ("source", "title", "body")} for c in cases)))
    pipe.wait()
    failures = []
    for c in cases:
        expect = c["expect"].split(";")[0].strip()
        if expect == "match both words":
            queries, want = [c["query"], *c["query"].split()], True
        elif expect == "match":
            queries, want = [c["query"]], True
        elif expect == "no match":
            queries, want = [c["query"]], False
        else:
            raise AssertionError(f"unknown expect {c['expect']!r} in {c['id']}")
        for q in queries:
            if _matches(pipe, q, c["title"]) != want:
                failures.append((c["id"], q, c["expect"]))
    assert not failures, failures
    _check_entity_expectations(pipe, cases)


def _check_entity_expectations(pipe, cases) -> None:
    """The parts of ``expect`` after ";": entity keys, date values, offsets, facet values."""
    from shared.arabic import entity_key

    docs = {d["title"]: d for d in pipe.docs()}
    failures = []
    for c in cases:
        for part in [p.strip() for p in c["expect"].split(";")[1:]]:
            doc = docs[c["title"]]
            ents = doc["entities"]
            if part.startswith("entity normalized equal to the one written "):
                want = entity_key(part.removeprefix("entity normalized equal to the one written "))
                ok = any(e["normalized"] == want for e in ents)
            elif part.startswith("dates value "):
                ok = any(d["value"] == part.removeprefix("dates value ") for d in doc["dates"])
            elif part.startswith("LOC entity normalized "):
                want = entity_key(part.removeprefix("LOC entity normalized "))
                ok = any(e["label"] == "LOC" and e["normalized"] == want for e in ents)
            elif part.startswith("entity offsets still point at the original characters"):
                ok = bool(ents) and all(doc["body"][e["start"]:e["end"]] == e["text"] for e in ents)
            elif "facet value" in part:
                want = part.split("facet value ", 1)[1].split(",")[0].strip()
                facets = pipe.search(c["query"])["facets"]
                ok = any(f["value"] == entity_key(want) for label in ("PERS", "LOC") for f in facets[label])
            else:
                raise AssertionError(f"unknown expectation {part!r} in {c['id']}")
            if not ok:
                failures.append((c["id"], part, [(e["label"], e["normalized"]) for e in ents], doc["dates"]))
    assert not failures, failures

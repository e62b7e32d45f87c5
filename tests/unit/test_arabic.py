"""Unit tests of shared.arabic: the normalization table and everything derived from it.

Test words are our own, of the kinds listed in /work/shared/cases/README.md.
"""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from shared.arabic import (
    ARTICLE,
    NORMALIZATION_TABLE,
    PROCLITICS,
    PROTECTED_NAMES,
    entity_key,
    es_char_filter_mappings,
    normalize,
    normalize_with_offsets,
    original_span,
    sentence_spans,
    tokenize_spans,
)

T = NORMALIZATION_TABLE


# ------------------------------------------------------------------------------ the table


def test_table_is_immutable_single_chars_and_a_fixpoint():
    with pytest.raises(TypeError):
        T["x"] = "y"  # type: ignore[index]
    for k, v in T.items():
        assert len(k) == 1 and ord(k) <= 0xFFFF, repr(k)
        assert isinstance(v, str)
        assert not any(c in T for c in v), (k, v)  # one pass == fixpoint
    # so normalize is idempotent
    sample = "إِنَّ ٱلْمُؤْتَمَرَ فِي ﺍﻟﻘﺎﻫﺮﺓ ﻻ یُعقد، ١٢٣ ـــ ۴۵ \u200fشيء\u200c"
    assert normalize(normalize(sample)) == normalize(sample)


@pytest.mark.parametrize(
    "chars, expected",
    [
        ("أإآٱٲٳٵ", "ا" * 7),           # alef forms
        ("ؤ", "و"),
        ("ئ", "ي"),
        ("ء", ""),                       # lone hamza dropped (documented decision)
        ("ى", "ي"),
        ("ة", "ه"),
        ("ۃ", "ه"),
        ("ـ", ""),
        ("یېۍێے", "ي" * 5),
        ("کڪ", "كك"),
        ("گ", "ك"),                      # gaf folds to kaf (documented decision)
        ("ہەۀھ", "هههه"),
        ("٠١٢٣٤٥٦٧٨٩", "0123456789"),
        ("۰۱۲۳۴۵۶۷۸۹", "0123456789"),
        ("،؛؟«»٪٫٬", ',;?""%.,'),
        ("ABCÉ", "abcé"),
    ],
)
def test_table_letters(chars, expected):
    assert normalize(chars) == expected


def test_all_marks_are_deleted():
    marks = [chr(c) for c in range(0x064B, 0x0653)] + ["\u0670"]
    marks += [chr(c) for c in range(0x0610, 0x061B)] + [chr(c) for c in range(0x06D6, 0x06EE)]
    for m in marks:
        assert normalize("ب" + m + "ت") == "بت", hex(ord(m))


def test_invisible_marks_are_deleted():
    inv = [chr(c) for c in range(0x200B, 0x2010)] + [chr(c) for c in range(0x202A, 0x202F)]
    inv += [chr(c) for c in range(0x2066, 0x206A)] + ["\ufeff", "\u061c", "\u00ad"]
    for m in inv:
        assert normalize("دم" + m + "شق") == "دمشق", hex(ord(m))


def test_astral_characters_pass_through():
    assert normalize("مرحبا 😀 𝐀") == "مرحبا 😀 𝐀"
    out, offs = normalize_with_offsets("ـ😀ـ")
    assert out == "😀" and offs == [1, 3]


def test_decomposed_hamza_forms_fold_like_precomposed():
    assert normalize("ا\u0654حمد") == normalize("أحمد") == "احمد"
    assert normalize("ا\u0655سلام") == normalize("إسلام")
    assert normalize("ا\u0653") == normalize("آ")


def test_presentation_forms_generated_from_unicodedata():
    # every presentation form with a compatibility decomposition is in the table and agrees
    # with NFKC followed by the table
    for cp in list(range(0xFB50, 0xFE00)) + list(range(0xFE70, 0xFEFF)):
        ch = chr(cp)
        nfkc = unicodedata.normalize("NFKC", ch)
        if nfkc != ch and cp not in (0xFDFC,):
            expected = normalize(nfkc)
            assert normalize(ch) == ("" if expected.isspace() else expected), hex(cp)
    assert normalize("\ufefb") == "لا"       # lam-alef ligature
    assert normalize("\ufef7") == "لا"       # lam-alef with hamza above
    assert normalize("\ufef5") == "لا"       # lam-alef with madda
    assert normalize("\ufdf2") == "الله"
    assert normalize("\ufe70") == ""          # isolated fathatan


# ------------------------------------------------------------------- variant spellings meet


@pytest.mark.parametrize(
    "a, b",
    [
        ("ٱلقاهرة", "القاهرة"),                         # wasla
        ("دِمَشْقُ", "دمشق"),                            # harakat
        ("عمّـــان", "عمان"),                           # shadda + tatweel
        ("کردستان", "كردستان"),                         # Persian kaf
        ("یمن", "يمن"),                                 # Persian yeh
        ("إسرائيل", "اسرائيل"),                         # hamza on alef
        ("شيء", "شئ"),                                  # hamza seat variants
        ("مبادئ", "مبادىء"),
        ("مصطفى", "مصطفي"),                             # alef maksura
        ("الجامعة", "الجامعه"),                         # teh marbuta
        ("١٩٩٠", "1990"),
        ("۱۹۹۰", "1990"),
        ("دم\u200eشق", "دمشق"),                         # LRM inside
        ("دمش\u00adق", "دمشق"),                         # soft hyphen inside
        ("\ufea9\ufee3\ufeb8\ufed6", "دمشق"),           # presentation forms
        ("\ufedf\ufe92\ufee8\ufe8e\ufee5", "لبنان"),
    ],
)
def test_variants_normalize_equal(a, b):
    assert normalize(a) == normalize(b)


def test_distinct_words_stay_distinct():
    assert normalize("لبنان") != normalize("لبن")
    assert normalize("فلسطين") == "فلسطين"
    assert entity_key("اللبن") == "اللبن"
    assert entity_key("لبنان") == "لبنان"


# ------------------------------------------------------------------------------- offsets

POOL = (
    list("ابتثجحدرسشعغفقكلمنهويةىءأإآؤئٱ")
    + ["\u064e", "\u0650", "\u0651", "\u0652", "\u0670", "\u0640", "\u0654", "\u06d6"]
    + ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202b", "\u2067", "\ufeff", "\u00ad"]
    + ["\ufefb", "\ufef7", "\ufe91", "\ufdf2", "\ufdfa", "\ufe70"]
    + list("یکگہ٠٩۵،؟«»") + list("aZ9 .\n\t") + ["😀", "\U0001d400"] + ["\u00a0", "\u2003", "\u2029", "  ", " \n "]
)


def _check_offsets(text: str, collapse: bool) -> None:
    out, offs = normalize_with_offsets(text, collapse_whitespace=collapse)
    assert out == normalize(text, collapse_whitespace=collapse)
    assert len(offs) == len(out) + 1
    assert offs[-1] == len(text)
    assert all(0 <= o < len(text) for o in offs[:-1])
    assert all(a <= b for a, b in zip(offs, offs[1:]))
    if not collapse:
        # exact: the output characters attributed to input j are exactly T[text[j]]
        produced: dict[int, str] = {}
        for ch, o in zip(out, offs):
            produced[o] = produced.get(o, "") + ch
        for j, c in enumerate(text):
            assert produced.get(j, "") == T.get(c, c), (j, c)
    else:
        for ch, o in zip(out, offs):
            src = T.get(text[o], text[o])
            assert ch in src or (ch.isspace() and src.isspace())


@pytest.mark.parametrize("budget", [0, 3, 40])  # forces each offsets path of the implementation
@pytest.mark.parametrize("collapse", [False, True])
def test_offsets_property_random(collapse, budget, monkeypatch):
    import shared.arabic

    monkeypatch.setattr(shared.arabic, "_WALK_BUDGET", budget)
    rng = random.Random(20240104 + budget)
    for _ in range(1500):
        text = "".join(rng.choice(POOL) for _ in range(rng.randint(0, rng.choice([10, 40, 200]))))
        _check_offsets(text, collapse)


def test_offsets_identity_fast_path():
    text = "وصل الوفد من بيروت"
    out, offs = normalize_with_offsets(text)
    assert out == text and offs == list(range(len(text) + 1))


def test_offsets_point_at_original_entity():
    text = "أصدر المكتب بيانا في دم\u200dشـــقَ اليوم"
    out, offs = normalize_with_offsets(text)
    i = out.index("دمشق")
    s, e = original_span(text, offs, i, i + len("دمشق"))
    assert text[s:e] == "دم\u200dشـــقَ"  # trailing fatha belongs to the word
    # expansion: a span inside a ligature maps to the whole ligature
    text = "\ufefb بأس"
    out, offs = normalize_with_offsets(text)
    assert out.startswith("لا")
    assert original_span(text, offs, 0, 1) == (0, 1)
    assert original_span(text, offs, 1, 2) == (0, 1)


@pytest.mark.parametrize("text", ["", " ", "  ", " ب", "ب ", " ب ت ", "ب\nت", "ـ ب", "ب ـ", "\u200f"])
def test_collapse_edges(text):
    _check_offsets(text, True)
    _check_offsets(text, False)


def test_offsets_deletions_and_expansions_and_astral_together():
    for text in ["بَيْتٌ", "ﻻ بَأْس", "😀ـب", "ﻻ😀َ", "ـــ", "\ufdfa."]:
        _check_offsets(text, False)
        _check_offsets(text, True)


def test_collapse_whitespace():
    text = " \u200f قال\u00a0\u00a0 المتحدث \n\n\t وأضاف  "
    out, offs = normalize_with_offsets(text, collapse_whitespace=True)
    assert out == "قال المتحدث\nواضاف"
    assert text[offs[0]] == "ق"
    assert text[offs[out.index("\n")]].isspace()


# ----------------------------------------------------------------------------- ES rules

_ES_RULE = re.compile(r"(.*)\s*=>\s*(.*)\s*$")


def _java_trim(s: str) -> str:
    a, b = 0, len(s)
    while a < b and s[a] <= " ":
        a += 1
    while b > a and s[b - 1] <= " ":
        b -= 1
    return s[a:b]


def _es_parse(s: str) -> str:
    """A port of MappingCharFilterFactory.parseString."""
    out, i = [], 0
    while i < len(s):
        c = s[i]
        i += 1
        if c == "\\":
            assert i < len(s)
            c = s[i]
            i += 1
            if c == "u":
                assert i + 3 < len(s) or i + 4 == len(s)
                c = chr(int(s[i:i + 4], 16))
                i += 4
            else:
                c = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(c, c)
        out.append(c)
    return "".join(out)


def test_es_rules_parse_back_to_the_table():
    rules = es_char_filter_mappings()
    assert len(rules) == len(T)
    parsed = {}
    for rule in rules:
        assert rule.isascii()
        assert re.fullmatch(r"\\u[0-9A-F]{4} => (?:\\u[0-9A-F]{4})*", rule), rule
        m = _ES_RULE.search(rule)
        assert m
        lhs = _es_parse(_java_trim(m.group(1)))
        rhs = _es_parse(_java_trim(m.group(2)))
        assert len(lhs) == 1 and lhs not in parsed
        assert len(rhs) <= 256  # ES parseString buffer
        parsed[lhs] = rhs
    assert parsed == dict(T)
    assert "\\u0640 => " in rules          # deletion
    assert "\\u0623 => \\u0627" in rules   # أ → ا
    assert "\\uFEFB => \\u0644\\u0627" in rules  # ﻻ → لا


def test_es_char_filter_simulation_equals_normalize():
    rules = {_es_parse(r.split(" => ")[0]): _es_parse(r.split(" => ")[1]) for r in es_char_filter_mappings()}
    text = "ﺑﻐﺪﺍﺩ ٱلعِراق الکویت ١٢ شئ\u200d"
    assert "".join(rules.get(c, c) for c in text) == normalize(text)


# ----------------------------------------------------------------------------- entity keys


def test_entity_key_required_equalities():
    base = entity_key("دمشق")
    assert entity_key("ودمشق", known=lambda s: s == "دمشق") == base
    assert entity_key("\ufea9\ufee3\ufeb8\ufed6") == base
    assert entity_key("دمشـــق") == base
    assert entity_key("دم\u200dشق") == base
    assert entity_key("أبو بكر الحسيني") == entity_key("ابو بكر الحسيني") == "ابو بكر الحسيني"
    assert entity_key("الکرمل") == entity_key("الكرمل")


@pytest.mark.parametrize(
    "name",
    ["لبنان", "ليبيا", "فلسطين", "فنزويلا", "بيروت", "بنغازي", "كركوك", "كندا", "واشنطن",
     "بغداد", "والتر", "كاليفورنيا", "بالمر", "باريس"],
)
def test_names_starting_with_proclitic_letters_are_kept(name):
    assert entity_key(name) == normalize(name)


@pytest.mark.parametrize(
    "surface, key",
    [
        ("والموصل", "الموصل"),
        ("بالخرطوم", "الخرطوم"),
        ("فالخرطوم", "الخرطوم"),
        ("كالخرطوم", "الخرطوم"),
        ("وبالخرطوم", "الخرطوم"),
        ("للخرطوم", "الخرطوم"),     # ل + ال
        ("وللخرطوم", "الخرطوم"),
        ("لليبيا", "ليبيا"),        # ل + ليبيا, not ل + ال + يبيا
        ("ولبنان", "لبنان"),
        ("فبيروت", "بيروت"),
        ("وأبو بكر الحسيني", "ابو بكر الحسيني"),
        ("«الموصل»،", "الموصل"),
        ("  الموصل \u200f ", "الموصل"),
        ("الأمم   المتحدة", "الامم المتحده"),
    ],
)
def test_entity_key_rules(surface, key):
    assert entity_key(surface) == key


def test_entity_key_without_known_is_conservative():
    # و + a name that is neither protected nor after the article: cannot know, keep it
    assert entity_key("وتدمر") == "وتدمر"
    assert entity_key("والي") == "والي"                  # too short after ال


def test_entity_key_with_known():
    gaz = {"تدمر", "الخرطوم", "لندن"}.__contains__
    assert entity_key("وتدمر", known=gaz) == "تدمر"
    assert entity_key("بتدمر", known=gaz) == "تدمر"
    assert entity_key("للندن", known=gaz) == "لندن"       # ل + لندن
    assert entity_key("وللخرطوم", known=gaz) == "الخرطوم"
    # unstripped known: not stripped even if the stripped form is also known
    both = {"بتدمر", "تدمر"}.__contains__
    assert entity_key("بتدمر", known=both) == "بتدمر"
    # known receives whole normalized keys
    seen = []
    entity_key("وأبو بكر", known=lambda s: seen.append(s) or False)
    assert "ابو بكر" in seen


def test_proclitics_constant():
    assert set(PROCLITICS) >= {"و", "ف", "ب", "ك", "ل", "وب", "ول", "فب"}
    assert ARTICLE == "ال"
    assert all(normalize(n) == n for n in PROTECTED_NAMES)


# -------------------------------------------------------------------- tokens and sentences


def test_tokenize_spans_keeps_marks_and_joiners_inside_words():
    text = "قالت الحكومةُ إنّ دم\u200dشق\u200f، و\u200cأضافت: ٢٠٢٤م (رسمي)."
    toks = [text[s:e] for s, e in tokenize_spans(text)]
    assert toks == ["قالت", "الحكومةُ", "إنّ", "دم\u200dشق", "و\u200cأضافت", "٢٠٢٤م", "رسمي"]


def test_tokenize_spans_agree_with_camel_on_plain_text():
    from camel_tools.tokenizers.word import simple_word_tokenize

    text = "وصل الوفد إلى عمّان، ثم غادر (مساءً) نحو الرياض!"
    ours = [text[s:e] for s, e in tokenize_spans(text)]
    camel = [t for t in simple_word_tokenize(text) if any(c.isalnum() for c in t)]
    assert ours == camel


def test_sentence_spans():
    text = "وصل الوزير إلى عمّان. وقال د. سمير إن النمو 2.5٪! هل ينجح؟ «ربما.»\nسطر آخر"
    sents = [text[s:e] for s, e in sentence_spans(text)]
    assert sents == [
        "وصل الوزير إلى عمّان.",
        "وقال د. سمير إن النمو 2.5٪!",
        "هل ينجح؟",
        "«ربما.»",
        "سطر آخر",
    ]
    assert sentence_spans("") == []
    assert sentence_spans(" \n\u200f ") == []

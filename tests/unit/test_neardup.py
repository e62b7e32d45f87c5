"""Unit tests of shared.neardup: signatures, band keys, choosing the original, batch dedup.

The Arabic stories below are our own, written for these tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared import neardup as nd
from shared.neardup import (
    BANDS,
    SIG_CHARS,
    THRESHOLD,
    BatchDeduper,
    band_keys,
    choose_original,
    is_duplicate,
    signature,
    similarity,
)

ROOT = Path(__file__).resolve().parents[2]

# A made-up story, one sentence a line.
STORY = [
    "أعلن مجلس بلدية إربد مساء الثلاثاء عن افتتاح حديقة عامة جديدة في الحي الشرقي من المدينة بعد عامين من العمل المتواصل.",
    "وقال رئيس البلدية سليم العتوم في مؤتمر صحفي إن الحديقة تمتد على مساحة ثلاثين دونما وتضم ملاعب للأطفال ومسارات للمشي.",
    "وأضاف أن كلفة المشروع بلغت نحو مليوني دينار جرى تمويلها بالشراكة مع عدد من الشركات المحلية.",
    "وأشار العتوم إلى أن البلدية زرعت أكثر من خمسة آلاف شجرة زيتون وصنوبر في أرجاء الحديقة.",
    "ومن المقرر أن تفتح الحديقة أبوابها للزوار مجانا طوال أيام الأسبوع من الساعة السابعة صباحا حتى العاشرة ليلا.",
    "ورحب سكان الحي بالمشروع معتبرين أنه يوفر متنفسا طال انتظاره للعائلات في المنطقة المكتظة بالسكان.",
    "وكانت البلدية قد أطلقت العام الماضي خطة لتحسين المرافق العامة تشمل إنشاء أربع حدائق أخرى بحلول نهاية العقد.",
    "ويأمل المسؤولون أن يسهم المشروع في تنشيط الحركة التجارية في الأسواق القريبة من الحديقة.",
]
BODY = "\n".join(STORY)

# Another story: same city, same mayor, same council, a different event.
OTHER = "\n".join([
    "أعلن مجلس بلدية إربد مساء الأربعاء عن تأجيل مشروع توسعة السوق المركزي في وسط المدينة إلى العام المقبل.",
    "وقال رئيس البلدية سليم العتوم إن القرار جاء بسبب ارتفاع أسعار مواد البناء وتأخر وصول التمويل الحكومي المخصص للمشروع.",
    "وأوضح أن التجار في السوق سيواصلون عملهم في مواقعهم الحالية دون أي تغيير خلال الأشهر القادمة.",
    "واعترض عدد من أعضاء المجلس على التأجيل مطالبين بالبحث عن مصادر تمويل بديلة من القطاع الخاص.",
    "وأكد العتوم أن البلدية ستعقد اجتماعا مع غرفة تجارة إربد الأسبوع المقبل لمناقشة الخيارات المتاحة.",
    "ويعد السوق المركزي من أقدم أسواق المدينة إذ يعود تاريخ إنشائه إلى منتصف القرن الماضي.",
    "وكانت البلدية قد أطلقت العام الماضي خطة لتحسين المرافق العامة في المدينة.",
])


def _dup(edited: str, original: str = BODY) -> bool:
    return choose_original(signature(edited), [("orig", signature(original), "1")]) == "orig"


# --- the five kinds of edits ----------------------------------------------------------------

def test_reordered_sentences_are_a_duplicate():
    order = [3, 0, 6, 1, 7, 2, 5, 4]
    assert _dup("\n".join(STORY[i] for i in order))
    assert _dup(" ".join(reversed(STORY)))


def test_other_byline_is_a_duplicate():
    assert _dup("إربد - خاص\n" + BODY + "\nبقلم: منى الخطيب")
    with_old = "كتب: سامي الرفاعي\n" + BODY
    assert _dup("عمّان ـ وكالات\n" + BODY, with_old)


def test_changed_punctuation_is_a_duplicate():
    edited = (BODY.replace("،", ",").replace(".", "!").replace(" وقال", "، وقال")
              .replace("إن الحديقة", ": «إن الحديقة") + " ...")
    edited = re.sub(r"\s+", "  ", edited)
    assert _dup(edited)
    # diacritics, tatweel and hamza spellings are normalized away too
    assert _dup(BODY.replace("أعلن", "أَعْلَنَ").replace("الحديقة", "الحديـــقة"))


def test_read_also_lines_are_a_duplicate():
    lines = STORY[:]
    lines.insert(2, "اقرأ أيضاً: ارتفاع أسعار الخضار في الأسواق الشعبية مع بداية الشتاء")
    lines.insert(6, "اقرأ أيضا.. الأرصاد تتوقع أمطارا غزيرة نهاية الأسبوع")
    assert _dup("\n".join(lines))


def test_one_sentence_added_or_dropped_is_a_duplicate():
    assert _dup("\n".join(STORY[:4] + STORY[5:]))          # dropped
    added = STORY[:3] + [
        "وحضر حفل الافتتاح عدد من النواب وممثلي مؤسسات المجتمع المدني في المحافظة."
    ] + STORY[3:]
    assert _dup("\n".join(added))                          # added


def test_different_title_does_not_matter():
    # the signature is computed on the body only; the title is never part of it
    assert signature(BODY) == signature(BODY + "\n")


# --- distinct stories -------------------------------------------------------------------------

def test_same_topic_different_event_is_not_a_duplicate():
    a, b = signature(BODY), signature(OTHER)
    assert similarity(a, b) < THRESHOLD / 2
    assert not is_duplicate(b, a)
    assert choose_original(b, [("orig", a, "1")]) is None
    assert BatchDeduper().assign([("a", a, "1"), ("b", b, "2")]) == {"a": None, "b": None}


def test_follow_up_with_a_new_lead_is_not_a_duplicate():
    # a later story: a long new lead paragraph on top of the earlier story reprinted whole
    lead = [
        "قررت بلدية إربد صباح اليوم إغلاق الحديقة الجديدة مؤقتا بعد أيام من افتتاحها إثر شكاوى من السكان.",
        "وقال مدير الدائرة الهندسية في البلدية خالد الزعبي إن فحصا أوليا كشف عن تسرب في شبكة الري الرئيسية أدى إلى تجمع المياه في الممرات.",
        "وأوضح الزعبي أن فرق الصيانة بدأت العمل على الفور وأن الإغلاق قد يستمر أسبوعين على الأقل ريثما تنتهي عمليات الإصلاح.",
    ]
    later = "\n".join(lead + STORY)
    sig_later, sig_body = signature(later), signature(BODY)
    assert similarity(sig_later, sig_body) >= THRESHOLD                 # similar as sets ...
    assert nd.new_shingles(sig_later, sig_body) > nd.MAX_NEW_SHINGLES   # ... but too much new
    assert not _dup(later)


# --- signatures -------------------------------------------------------------------------------

def test_signature_shape_and_band_keys():
    sig = signature(BODY)
    assert sig.startswith("m") and len(sig) == SIG_CHARS and sig.isascii()
    keys = band_keys(sig)
    assert len(keys) == BANDS == len(set(keys))
    assert all(re.fullmatch(r"b\d\d:[0-9a-f]{16}", k) for k in keys)
    assert similarity(sig, sig) == 1.0
    assert band_keys(signature(" ".join(reversed(STORY)))) != []


def test_signature_is_deterministic_across_processes():
    code = ("import sys; from shared.neardup import signature, band_keys; "
            "t = sys.stdin.read(); s = signature(t); print(s); print(band_keys(s)[0])")
    out = subprocess.run([sys.executable, "-c", code], input=BODY, capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout.split("\n")
    assert out[0] == signature(BODY) and out[1] == band_keys(signature(BODY))[0]
    assert signature(BODY) == signature(BODY)


# --- short and empty texts --------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "...!؟", "\n\n"])
def test_empty_texts_are_never_duplicates(text):
    sig = signature(text)
    assert sig == "" and band_keys(sig) == []
    assert choose_original(sig, [("x", sig, "1")]) is None
    assert similarity(sig, sig) == 0.0


def test_short_texts_need_exact_words():
    a = signature("عاجل: انقطاع الكهرباء عن وسط إربد")
    b = signature("عاجل: عودة الكهرباء إلى وسط إربد")
    assert a.startswith("x") and b.startswith("x")
    assert band_keys(a) != band_keys(b) and len(band_keys(a)) == 1
    assert choose_original(b, [("a", a, "1")]) is None
    # same words, other punctuation/diacritics/spacing: an exact republication
    c = signature("عاجلٌ ،  انقطاع الكهرباء عن وسط إربد!")
    assert c == a and choose_original(c, [("a", a, "1")]) == "a"
    # a short text is never a duplicate of a long one containing it, nor the reverse
    long_sig = signature(BODY)
    short = signature(STORY[0])
    assert choose_original(short, [("l", long_sig, "1")]) is None
    assert choose_original(long_sig, [("s", short, "1")]) is None


def test_malformed_signatures_are_ignored():
    assert similarity("m!!!", signature(BODY)) == 0.0
    assert band_keys("mAAAA") == []
    assert similarity(signature(BODY), "") == 0.0


# --- choosing the original --------------------------------------------------------------------

def test_choose_original_picks_the_earliest_similar_candidate():
    sig = signature(BODY)
    cands = [
        ("late", signature(" ".join(STORY)), "2024-01-03T00:00:00+00:00|late"),
        ("first", signature(BODY + "\nبقلم: منى الخطيب"), "2024-01-01T00:00:00+00:00|first"),
        ("other", signature(OTHER), "2023-12-01T00:00:00+00:00|other"),
    ]
    assert choose_original(sig, cands) == "first"
    assert choose_original(sig, cands, self_id="first") == "late"
    assert choose_original(sig, cands, before="2024-01-02") == "first"
    assert choose_original(sig, cands, before="2024-01-01") is None
    assert choose_original(sig, []) is None


def test_batch_deduper_within_batch_chains_and_replays():
    s1 = signature(BODY)
    s2 = signature(" ".join(reversed(STORY)))
    s3 = signature("إربد - خاص\n" + BODY)
    so = signature(OTHER)
    # indexed already: "old" (an original) and "mid" (a duplicate of "old")
    dd = BatchDeduper([("old", s1, "1|old"), ("mid", s2, "2|mid")], {"mid": "old"})
    got = dd.assign([("new2", s3, "4|new2"), ("other", so, "3|other"), ("new", s2, "3|new")])
    assert got == {"new": "old", "new2": "old", "other": None}
    # within one batch, nothing indexed before: the first seen is the original
    got = BatchDeduper().assign([("b", s2, "2|b"), ("a", s1, "1|a"), ("c", s3, "3|c")])
    assert got == {"a": None, "b": "a", "c": "a"}
    # a replayed original finds its own document and its later duplicates: no self-reference,
    # no cycle
    dd = BatchDeduper([("old", s1, "1|old"), ("mid", s2, "2|mid")], {"mid": "old"})
    assert dd.assign([("old", s1, "9|old")]) == {"old": None}


def test_parameters_are_consistent():
    assert nd.BANDS * nd.ROWS == nd.NUM_PERM
    assert 0 < nd.THRESHOLD < 1 and nd.MIN_SHINGLES > nd.SHINGLE_WORDS

"""Page splitting, URL/id rules and date parsing of the ingest service (pure functions)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.ingest import ids
from services.ingest.dates import parse_published_at
from services.ingest.markup import html_to_text, looks_like_html
from services.ingest.pages import is_headline_like, split_page

BASE = datetime(2024, 5, 1, tzinfo=timezone.utc)

STORY = (
    "أعلن البنك المركزي المصري يوم الخميس تثبيت أسعار الفائدة للمرة الثالثة على التوالي.\n"
    "وقال البنك في بيان إن معدلات التضخم بدأت تتراجع خلال الأشهر الأخيرة.\n"
    "وتوقع محللون أن يبدأ البنك خفض الفائدة قبل نهاية العام."
)


def test_plain_article_unchanged():
    (story,) = split_page(STORY)
    assert story.body == STORY and story.title is None


def test_surrounding_whitespace_and_blank_runs_tidied():
    (story,) = split_page("\n\n  " + STORY.replace("\n", "\n\n\n\n") + "\n \n")
    assert story.body == STORY.replace("\n", "\n\n").lstrip()


@pytest.mark.parametrize(
    "link",
    [
        "اقرأ أيضا: الذهب يسجل أعلى مستوى في شهر",
        "إقرأ أيضاً:\u00a0الذهب يسجل أعلى مستوى في شهر",
        "اقرأ ايضا | الذهب يسجل أعلى مستوى في شهر",
        "إقرأ أيضا في بي بي سي: الذهب يسجل أعلى مستوى في شهر",
        "اقرأ المزيد... الذهب يسجل أعلى مستوى في شهر",
        "قد يهمك أيضا: الذهب يسجل أعلى مستوى في شهر",
        "قد يهمك.. الذهب يسجل أعلى مستوى في شهر",
    ],
)
def test_inline_link_in_running_text_removed_not_split(link):
    first, rest = STORY.split("\n", 1)
    stories = split_page(f"{first}\n{link}\n{rest}")
    assert len(stories) == 1
    assert stories[0].body == STORY


def test_bare_marker_drops_following_headline_lines_only():
    first, rest = STORY.split("\n", 1)
    page = f"{first}\nاقرأ أيضاً:\nالذهب يسجل أعلى مستوى في شهر\nالنفط يتراجع مع زيادة المخزونات\n{rest}"
    (story,) = split_page(page)
    assert story.body == STORY


def test_bare_marker_followed_by_paragraph_keeps_paragraph():
    first, rest = STORY.split("\n", 1)
    (story,) = split_page(f"{first}\nاقرأ أيضا:\n{rest}")
    assert story.body == STORY


def test_sentence_starting_like_marker_is_text():
    line = "اقرأ أيضاً ما كتبه المحللون عن الأزمة، فهو يشرح خلفياتها بوضوح."
    (story,) = split_page(STORY + "\n" + line)
    assert story.body.endswith(line)


def test_marker_after_byline_at_top_is_not_an_embedded_story():
    page = "بقلم سامر الخطيب\nاقرأ أيضا: الذهب يسجل أعلى مستوى في شهر\n" + STORY
    (story,) = split_page(page)
    assert story.body == STORY


def test_embedded_story_needs_closing_line_before_marker():
    embedded = "مصر ترفع أسعار الوقود\nقررت لجنة التسعير رفع أسعار البنزين بنسبة عشرة في المئة."
    closed = split_page(STORY + "\nالمصدر: رويترز\nاقرأ أيضاً:\n" + embedded)
    assert [s.title for s in closed] == [None, "مصر ترفع أسعار الوقود"]
    assert closed[1].body == "قررت لجنة التسعير رفع أسعار البنزين بنسبة عشرة في المئة."
    open_ = split_page(STORY + "\nاقرأ أيضاً:\n" + embedded)
    assert len(open_) == 1
    assert open_[0].body == STORY + "\nقررت لجنة التسعير رفع أسعار البنزين بنسبة عشرة في المئة."


def test_embedded_title_on_marker_line():
    page = STORY + "\nكلمات دلالية: مصر الفائدة\nإقرأ أيضاً: مصر ترفع أسعار الوقود\nقررت لجنة التسعير رفع الأسعار."
    main, second = split_page(page)
    assert second.title == "مصر ترفع أسعار الوقود" and second.body == "قررت لجنة التسعير رفع الأسعار."


def test_read_also_list_after_closing_is_links_not_story():
    page = STORY + "\nبقلم منى سعيد\nاقرأ أيضاً:\nالذهب يسجل أعلى مستوى\nالنفط يتراجع\nمقالات مشابهة\n• عنوان آخر"
    (story,) = split_page(page)
    assert story.body == STORY


def test_two_embedded_stories():
    page = (
        STORY + "\nالمصدر: وكالات\n"
        "اقرأ أيضاً:\nخبر ثان\nنص الخبر الثاني هنا.\nالمصدر: كونا\n"
        "اقرأ أيضاً:\nخبر ثالث\nنص الخبر الثالث هنا.\nالوسوم: أخبار"
    )
    stories = split_page(page)
    assert [s.title for s in stories] == [None, "خبر ثان", "خبر ثالث"]
    assert [s.body for s in stories[1:]] == ["نص الخبر الثاني هنا.", "نص الخبر الثالث هنا."]


@pytest.mark.parametrize(
    "line",
    [
        "بقلم أحمد يوسف",
        "بقلم: أحمد يوسف",
        "كتب: أحمد يوسف",
        "المصدر: وكالة الأنباء الكويتية",
        "المصدر - وكالات",
        "المصدر كونا",
        "المصدر قنا الوسومقطر الغاز",
        "كلمات دلالية: مصر الفائدة التضخم",
        "الوسوم مصر اقتصاد",
        "شارك هذا الخبر",
        "تابعونا على تويتر",
        "فيسبوك تويتر واتساب",
        "إعلان",
        "مقالات مشابهة",
        "مواضيع ذات صلة:",
    ],
)
def test_boilerplate_lines_removed(line):
    (story,) = split_page(STORY + "\n" + line)
    assert story.body == STORY


@pytest.mark.parametrize(
    "line",
    [
        "المصدر أكد أن المفاوضات ستستأنف الأسبوع المقبل في القاهرة.",
        "شارك أكثر من ألف متطوع في حملة تنظيف الشواطئ صباح السبت.",
        "إعلان حالة الطوارئ في ثلاث محافظات بسبب السيول",
        "كتب الرئيس على حسابه أن الحكومة ستدعم المزارعين.",
        "- الخطوة الأولى: تسجيل الطلب عبر الموقع.",
    ],
)
def test_text_lines_that_look_like_boilerplate_kept(line):
    (story,) = split_page(STORY + "\n" + line)
    assert story.body.endswith(line)


def test_related_list_ends_at_paragraph():
    page = "مواضيع ذات صلة\n- عنوان أول\n- عنوان ثان\nعنوان ثالث بلا نقطة\n" + STORY
    (story,) = split_page(page)
    assert story.body == STORY


def test_headline_like():
    assert is_headline_like("الذهب يسجل أعلى مستوى في شهر")
    assert is_headline_like('السفير: الهجمات "يجب أن تتوقف"')
    assert not is_headline_like("وقال المتحدث إن الاجتماع انتهى.")
    assert not is_headline_like("وأضاف: \"لن نتراجع\".")
    assert not is_headline_like("")


# --- ids -------------------------------------------------------------------------------------------


def test_normalize_url():
    n = ids.normalize_url
    assert n("https://WWW.Example.com:443/a/b/?utm_medium=x&b=2&a=1#frag") == "example.com/a/b?a=1&b=2"
    assert n("http://example.com/%D8%AE%D8%A8%D8%B1") == n("https://example.com/خبر/")
    assert n("example.com/a") == n("https://example.com/a")
    assert n("https://example.com:8080/a") == "example.com:8080/a"
    assert n("https://example.com/a?fbclid=1") == "example.com/a"


def test_id_rules_are_distinct_and_deterministic():
    by_url = ids.article_id(url="https://e.com/1", source="s", external_id="1", title="t", body="b")
    by_ext = ids.article_id(url=None, source="s", external_id="1", title="t", body="b")
    by_text = ids.article_id(url=None, source="s", external_id=None, title="t", body="b")
    assert len({by_url, by_ext, by_text}) == 3
    assert all(len(x) == ids.ID_LENGTH == 20 and int(x, 16) >= 0 for x in (by_url, by_ext, by_text))
    assert by_ext == ids.article_id(url=" ", source=" S ", external_id="1", title="x", body="y")
    assert ids.embedded_id(by_url, 1) != ids.embedded_id(by_url, 2)
    assert ids.embedded_id(by_url, 1) == ids.embedded_id(by_url, 1)


def test_content_hash_is_sha256_of_collapsed_body():
    import hashlib

    assert ids.content_hash("  أ  ب\n\nج ") == hashlib.sha256("أ ب ج".encode()).hexdigest()


# --- dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2024-01-04", datetime(2024, 1, 4, tzinfo=timezone.utc)),
        ("2024-01-04T10:00:00Z", datetime(2024, 1, 4, 10, tzinfo=timezone.utc)),
        ("2024-01-04T13:00:00+03:00", datetime(2024, 1, 4, 10, tzinfo=timezone.utc)),
        ("الخميس 4 يناير 2024", datetime(2024, 1, 4, tzinfo=timezone.utc)),
        ("4 كانون الثاني 2024", datetime(2024, 1, 4, tzinfo=timezone.utc)),
        ("15 تشرين الأول 2023", datetime(2023, 10, 15, tzinfo=timezone.utc)),
        ("1 آب 2022", datetime(2022, 8, 1, tzinfo=timezone.utc)),
        ("20 أيار 2021", datetime(2021, 5, 20, tzinfo=timezone.utc)),
        ("3 أوت 2020", datetime(2020, 8, 3, tzinfo=timezone.utc)),
        ("١٠ مارس ٢٠١٩", datetime(2019, 3, 10, tzinfo=timezone.utc)),
        ("أمس", datetime(2024, 4, 30, tzinfo=timezone.utc)),
    ],
)
def test_parse_published_at(text, expected):
    assert parse_published_at(text, relative_to=BASE) == expected


@pytest.mark.parametrize("text", [None, "", "  ", "not-a-date", "12", "كلام بلا تاريخ", "2024-02-31"])
def test_parse_published_at_gives_none(text):
    assert parse_published_at(text, relative_to=BASE) is None


# --- markup ----------------------------------------------------------------------------------------


def test_html_detection():
    assert looks_like_html("<p>نص</p>")
    assert looks_like_html("سطر<br/>سطر")
    assert not looks_like_html("النسبة 3 < 5 و 7 > 2")
    assert not looks_like_html(STORY)


def test_html_to_text_keeps_inline_words_together_and_blocks_apart():
    html = "<div><p>زار <a href='#'>الرئيس</a> <b>المدينة</b>.</p><ul><li>أولاً</li><li>ثانياً</li></ul></div><!-- تعليق -->"
    assert html_to_text(html) == "زار الرئيس المدينة.\nأولاً\nثانياً"

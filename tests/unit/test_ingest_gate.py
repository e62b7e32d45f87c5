"""The ingest gate (services.ingest.gate.process_raw): each kind of bad input, and what is fixed."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from services.ingest.gate import Rejected, arabic_ratio, process_raw
from shared.schemas import IngestedArticle

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def msg(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


def run(value: bytes, **kw) -> list[IngestedArticle]:
    return process_raw(value, ingested_at=NOW, **kw)


def rejected(value: bytes, **kw) -> Rejected:
    with pytest.raises(Rejected) as info:
        run(value, **kw)
    return info.value


# --- refused -----------------------------------------------------------------------------------


def test_truncated_json_rejected_with_position():
    whole = msg(title="خبر", body="انقطعت الكهرباء عن أحياء في صنعاء مساء السبت.")
    err = rejected(whole[:-7])
    assert err.error_type == "invalid_json"
    assert "column" in err.message and "character" in err.message
    assert "truncated" in err.message


def test_json_syntax_error_in_the_middle_names_position():
    err = rejected(b'{"body": "\xd9\x86\xd8\xb5" "title": "x"}')
    assert err.error_type == "invalid_json"
    assert "line 1" in err.message
    assert "truncated" not in err.message


def test_empty_message_rejected():
    assert rejected(b"  \n").error_type == "invalid_json"


def test_missing_body_rejected_naming_the_field():
    err = rejected(msg(title="عنوان بلا نص"))
    assert err.error_type == "schema"
    assert "'body'" in err.message and "missing" in err.message


@pytest.mark.parametrize("body", ["", "   ", " \n\t \r\n "])
def test_blank_body_rejected(body):
    err = rejected(msg(title="فارغ", body=body))
    assert err.error_type == "empty_body"
    assert "body" in err.message


def test_body_of_boilerplate_only_rejected():
    page = "بقلم فاطمة الزهراء\nالمصدر: وكالات\nكلمات دلالية: اقتصاد أسواق"
    err = rejected(msg(body=page))
    assert err.error_type == "empty_body"


def test_html_without_text_rejected():
    err = rejected(msg(body="<html><head><script>var x = 1;</script></head><body>  </body></html>"))
    assert err.error_type == "empty_body"
    assert "HTML" in err.message


def test_english_only_rejected():
    err = rejected(msg(title="Markets", body="Stocks closed higher on Tuesday as investors weighed new data."))
    assert err.error_type == "unsupported_language"
    assert "Arabic" in err.message


def test_declared_foreign_language_rejected():
    err = rejected(msg(body="ارتفعت أسعار الذهب في الأسواق العالمية.", language="fr"))
    assert err.error_type == "unsupported_language"
    assert "'fr'" in err.message


def test_declared_arabic_variants_accepted():
    for lang in ("ar", "AR", "ar-EG", "ara"):
        assert run(msg(body="ارتفعت أسعار الذهب في الأسواق العالمية.", language=lang))


def test_mostly_arabic_with_latin_names_accepted():
    body = "أعلنت شركة Apple عن هاتف iPhone جديد خلال مؤتمرها السنوي في كاليفورنيا يوم الثلاثاء."
    assert run(msg(body=body))[0].language == "ar"


def test_wrong_types_rejected_naming_each_field_and_unknown_fields_kept():
    value = msg(title="حقل زائد", body="خبر قصير عن طرابلس.", url=987, published_at=["2024"], tags={"a": 1})
    err = rejected(value)
    assert err.error_type == "schema"
    assert "'url'" in err.message and "must be a string" in err.message and "987" in err.message
    assert "'published_at'" in err.message and "'tags'" not in err.message


def test_unknown_fields_are_kept_and_a_number_as_source_becomes_text():
    (story,) = run(msg(body="خبر قصير عن طرابلس.", source=12345, author="سمير", tags=["ليبيا", "اقتصاد"],
                       image_url="https://example.org/a.jpg"))
    assert story.source == "12345"
    assert story.extra == {"author": "سمير", "tags": ["ليبيا", "اقتصاد"], "image_url": "https://example.org/a.jpg"}


def test_unknown_fields_over_the_cap_are_named_not_refused():
    from services.ingest.gate import EXTRA_MAX_BYTES

    warnings = []
    value = msg(body="خبر قصير عن طرابلس.", small="x", huge="ب" * EXTRA_MAX_BYTES)
    (story,) = process_raw(value, ingested_at=NOW, on_warning=lambda code, m: warnings.append((code, m)))
    assert story.extra == {"small": "x"}
    assert warnings and warnings[0][0] == "extra_truncated" and "'huge'" in warnings[0][1]


def test_bad_content_type_rejected():
    err = rejected(msg(body="نص عربي قصير.", content_type="application/pdf"))
    assert err.error_type == "schema" and "'content_type'" in err.message


def test_unsupported_schema_version_rejected():
    err = rejected(msg(body="نص عربي قصير.", schema_version=7))
    assert err.error_type == "schema" and "schema_version" in err.message


@pytest.mark.parametrize(
    "value,kind",
    [(b'[{"body": "x"}]', "array"), (b'"\xd9\x86\xd8\xb5"', "string"), (b"42", "number"), (b"null", "null")],
)
def test_non_object_rejected(value, kind):
    err = rejected(value)
    assert err.error_type == "not_an_object"
    assert kind in err.message


def test_invalid_utf8_rejected_with_offset():
    value = b'{"title": "\xd8\xae\xd8", "body": "\xff\xfe \xd9\x86\xd8\xb5"}'
    err = rejected(value)
    assert err.error_type == "invalid_utf8"
    assert "byte offset" in err.message and "UTF-8" in err.message


def test_windows_1256_bytes_rejected():
    value = '{"body": "خبر عاجل من القاهرة"}'.encode("cp1256")
    assert rejected(value).error_type == "invalid_utf8"


def test_utf8_bom_accepted():
    value = b"\xef\xbb\xbf" + msg(body="وصل الوفد إلى الدوحة صباح اليوم.")
    assert run(value)[0].body == "وصل الوفد إلى الدوحة صباح اليوم."


def test_too_large_body_rejected():
    body = "وقال المتحدث إن المحادثات مستمرة. " * 40
    err = rejected(msg(body=body), max_body_chars=500)
    assert err.error_type == "too_large"
    assert "500" in err.message and "characters" in err.message


def test_too_large_message_rejected_before_parsing():
    value = b'{"body": "' + "ن".encode() * 35_000 + b'"}'
    err = rejected(value, max_body_chars=100)
    assert err.error_type == "too_large" and "bytes" in err.message


def test_rejected_is_an_exception_with_readable_str():
    err = rejected(b"[1]")
    assert isinstance(err, Exception)
    assert str(err) == err.message


# --- fixed -------------------------------------------------------------------------------------


def test_html_page_stripped():
    page = (
        "<!DOCTYPE html><html><head><title>موقع الأخبار</title><script>track('x');</script>"
        "<style>.p{color:red}</style></head><body><nav>الرئيسية | سياسة</nav>"
        "<h1>حريق في سوق</h1>"
        "<p>اندلع حريق في سوق <b>الحميدية</b> وسط دمشق &quot;صباح&quot; اليوم&nbsp;الجمعة.</p>"
        "<p>وقال الدفاع المدني إن فرقه سيطرت على النيران بعد ساعتين &amp; لم تسجل إصابات.</p>"
        "<div class='ad banner'>إعلان ممول</div><script>alert('نص مخفي')</script>"
        "<footer>جميع الحقوق محفوظة</footer></body></html>"
    )
    (art,) = run(msg(source="test", body=page))
    assert "track" not in art.body and "alert" not in art.body and "color" not in art.body
    assert "نص مخفي" not in art.body and "إعلان ممول" not in art.body
    assert "الرئيسية" not in art.body and "جميع الحقوق" not in art.body
    assert 'سوق الحميدية وسط دمشق "صباح" اليوم الجمعة.' in art.body
    assert "&" in art.body and "&amp;" not in art.body and "&nbsp;" not in art.body
    assert art.body.count("\n") >= 1  # paragraphs kept apart
    assert art.title == "حريق في سوق"  # taken from <h1> when the message has no title


def test_html_content_type_forces_stripping_and_title_entities_cleaned():
    value = msg(
        title="وزير &quot;الخارجية&quot; يزور الجزائر",
        body="زار وزير الخارجية الجزائر<br>والتقى نظيره.",
        content_type="text/html",
    )
    (art,) = run(value)
    assert art.title == 'وزير "الخارجية" يزور الجزائر'
    assert art.body == "زار وزير الخارجية الجزائر\nوالتقى نظيره."


def test_plain_text_with_angle_brackets_left_alone():
    body = "قال الخبير إن النسبة 3 < 5 في المئة، وإن العائد > المتوقع."
    assert run(msg(body=body, content_type="text/plain"))[0].body == body


@pytest.mark.parametrize(
    "written",
    ["الخميس 4 يناير 2024", "4 كانون الثاني 2024", "الخميس، 4 يناير/كانون الثاني 2024", "٤ يناير ٢٠٢٤", "4 جانفي 2024"],
)
def test_arabic_date_parsed(written):
    (art,) = run(msg(body="خبر قصير عن الرياض.", published_at=written))
    assert art.published_at is not None
    assert art.published_at.date().isoformat() == "2024-01-04"
    assert art.published_at.tzinfo is not None


def test_iso_date_kept_in_utc():
    (art,) = run(msg(body="خبر قصير عن الرياض.", published_at="2018-03-15T13:05:00+03:00"))
    assert art.published_at == datetime(2018, 3, 15, 10, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("written", ["not-a-date", "قريباً جداً ربما", "12", "2024-13-45"])
def test_unparseable_date_keeps_article_with_no_date_and_warns(written, caplog):
    warnings: list[tuple[str, str]] = []
    (art,) = run(msg(body="خبر قصير عن بيروت.", published_at=written), on_warning=lambda c, m: warnings.append((c, m)))
    assert art.published_at is None
    assert warnings and warnings[0][0] == "unparsed_date" and written in warnings[0][1]
    assert any(written in r.getMessage() for r in caplog.records)


def test_fields_carried_and_defaults():
    value = msg(id="x-1", url=" https://news.example/a/1 ", title="  عنوان   الخبر ", body="نص الخبر هنا.", category="economy")
    (art,) = process_raw(value, ingested_at=datetime(2024, 5, 1, 12, 0), default_source="feedx")
    assert art.source == "feedx" and art.url == "https://news.example/a/1"
    assert art.title == "عنوان الخبر" and art.category == "economy" and art.parent_id is None
    assert art.ingested_at == NOW and art.language == "ar"
    assert len(art.article_id) == 20 and len(art.content_hash) == 64
    IngestedArticle.model_validate_json(art.model_dump_json())  # round-trips as a message


# --- identity and duplicates ---------------------------------------------------------------------


def test_same_article_twice_same_id_and_content_hash():
    value = msg(title="مكرر", body="افتتح معرض الكتاب في الشارقة أبوابه للزوار.", url="https://example.net/news/55")
    first, second = run(value)[0], run(value)[0]
    assert first.article_id == second.article_id and first.content_hash == second.content_hash


def test_id_from_url_ignores_scheme_www_tracking_and_fragment():
    a = run(msg(body="نص أول.", url="https://www.example.net/news/55/?utm_source=x#top"))[0]
    b = run(msg(body="نص ثان مختلف.", url="http://example.net/news/55"))[0]
    assert a.article_id == b.article_id


def test_id_from_source_and_external_id_without_url():
    a = run(msg(body="نص أول.", source="wire", id="A-17"))[0]
    b = run(msg(body="نص معدل.", source="wire", id="A-17"))[0]
    c = run(msg(body="نص أول.", source="other", id="A-17"))[0]
    assert a.article_id == b.article_id != c.article_id


def test_id_from_content_collapses_whitespace():
    a = run(msg(source="s", title="عنوان", body="سطر أول\n\nسطر  ثان"))[0]
    b = run(msg(source="s", title=" عنوان ", body="سطر أول\nسطر ثان "))[0]
    c = run(msg(source="s", title="عنوان آخر", body="سطر أول\nسطر ثان"))[0]
    assert a.article_id == b.article_id != c.article_id
    assert a.content_hash == b.content_hash == c.content_hash


def test_arabic_ratio():
    assert arabic_ratio("نص عربي") == 1.0
    assert arabic_ratio("English text") == 0.0
    assert arabic_ratio("123 !!") == 0.0


# --- scraped pages -----------------------------------------------------------------------------


def test_own_page_gives_two_linked_stories_without_boilerplate():
    page = (DATA / "page_two_stories.txt").read_text(encoding="utf-8")
    main, second = run(msg(source="alghad", url="https://alghad.example/water", body=page, published_at="2024-02-11"))
    assert main.parent_id is None and second.parent_id == main.article_id
    assert second.article_id != main.article_id and len(second.article_id) == 20
    # the lead dateline is furniture: cut from the body, its place read into a field
    assert main.body.startswith("أعلنت") and main.dateline_place == "عمّان"
    assert main.author == "سلمى الحوراني" and second.author is None
    assert main.body.endswith("القطاع الصناعي.")
    assert second.title == "الإمارات تطلق أكبر محطة للطاقة الشمسية في المنطقة"
    assert second.body.startswith("افتتحت دولة الإمارات")
    assert second.body.endswith("الشبكة الوطنية.")
    assert main.published_at is not None and second.published_at is None
    for art in (main, second):
        for junk in ("بقلم", "المصدر", "كلمات دلالية", "الوسوم", "مقالات مشابهة", "شارك", "إقرأ أيضاً",
                     "محطة رياح", "40 بالمئة", "الكويت تدرس", "•"):
            assert junk not in art.body, junk
    assert "\n\n" in main.body  # paragraph breaks kept


def test_page_variants_split_and_inline_links_removed():
    page = (DATA / "page_variants.txt").read_text(encoding="utf-8")
    main, second = run(msg(source="hespress", body=page))
    assert second.parent_id == main.article_id
    # the byline above the story and the dateline are gone from the body, kept as fields
    assert main.body.startswith("أطلقت") and main.dateline_place == "الرباط"
    assert main.author == "خالد المنصوري"
    assert "وتابع الوزير" in main.body and "وأشار إلى أن لجاناً" in main.body  # story goes on after links
    for link in ("المغرب يرفع ميزانية", "أسعار القمح", "البنك الدولي يحذر", "اقرأ"):
        assert link not in main.body
    assert second.title == "تونس تستضيف مؤتمراً دولياً حول زراعة الزيتون"
    assert second.body.startswith("تنطلق في العاصمة التونسية")
    for junk in ("الوسوم", "مواضيع ذات صلة", "الجزائر تطلق", "ليبيا تستأنف", "المصدر"):
        assert junk not in second.body and junk not in main.body


def test_same_page_twice_gives_same_ids():
    page = (DATA / "page_two_stories.txt").read_text(encoding="utf-8")
    first = [a.article_id for a in run(msg(source="alghad", body=page))]
    again = [a.article_id for a in run(msg(source="alghad", body=page.replace("\n", "\r\n")))]
    assert first == again and len(set(first)) == 2


def test_html_page_is_split_too():
    page = (DATA / "page_two_stories.txt").read_text(encoding="utf-8")
    html = "<html><body>" + "".join(f"<p>{line}</p>" for line in page.split("\n") if line.strip()) + "</body></html>"
    main, second = run(msg(source="alghad", body=html))
    assert second.title == "الإمارات تطلق أكبر محطة للطاقة الشمسية في المنطقة"
    assert "بقلم" not in main.body and "مقالات مشابهة" not in second.body


@pytest.mark.corpus
def test_seed_page_two_stories():
    path = SHARED / "seed" / "page-baghdad-strike.txt"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    page = path.read_text(encoding="utf-8")
    value = json.dumps({"source": "omandaily", "body": page}, ensure_ascii=False).encode("utf-8")
    stories = process_raw(value, ingested_at=NOW)
    assert len(stories) == 2
    main, second = stories
    assert "الحشد الشعبي" in main.body
    # the dateline (place "agency":) is cut from the story and read into fields
    assert main.body.startswith("قُتل") and main.dateline_place == "بغداد" and main.agency == "AFP"
    assert main.author and second.dateline_place is None
    lines = [line.strip() for line in page.split("\n") if line.strip()]
    marker = next(i for i, line in enumerate(lines) if line.startswith("إقرأ أيضاً"))
    assert second.title == lines[marker + 1]
    assert "نهاية سبتمبر 2025" in second.body
    assert second.parent_id == main.article_id
    for art in stories:
        for junk in ("ثلاثة صواريخ تستهدف", "بقلم", "كلمات دلالية", "مقالات مشابهة"):
            assert junk not in art.body, junk


_STORY = ("انتخب مجلس النواب اليوم الخميس رئيسا جديدا للبلاد بأغلبية واسعة في الجولة الثانية من التصويت. "
          "وقال رئيس المجلس إن الجلسة جرت بحضور السفراء وممثلي المنظمات الدولية.")


@pytest.mark.parametrize("header", [
    "10:23 مساءً / 29 يناير، 2024\nآخر الاخبار\n\n",                       # the site's clock + a label
    "صوت المدينة رئيس مجلس الإدارة سامي حداد\nالجمعة 5 أبريل 2024 07:08 م\n\n",  # masthead + clock
])
def test_a_date_in_the_site_header_is_not_the_story_date(header):
    (art,) = run(msg(body=header + _STORY, source="site"))
    assert art.published_at is None
    assert "10:23" not in art.body and "07:08" not in art.body


def test_a_date_line_of_the_story_is_its_date():
    (art,) = run(msg(body="الخميس 4 يناير 2024\n\n" + _STORY, source="site"))
    assert art.published_at is not None and art.published_at.date().isoformat() == "2024-01-04"

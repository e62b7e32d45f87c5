"""Arabic date expressions -> ISO values (own sentences)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from shared.dates import find_dates

PUB = datetime(2024, 1, 4, 9, 30, tzinfo=timezone.utc)  # a Thursday


def values(text, pub=PUB):
    out = find_dates(text, pub)
    for d in out:
        assert text[d.start : d.end] == d.text
    return [(d.text, d.value) for d in out]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("وقعت الحادثة في يناير 2020 قرب الحدود.", [("يناير 2020", "2020-01")]),
        ("تصاعدت الهجمات منذ منتصف أكتوبر الماضي.", [("منتصف أكتوبر الماضي", "2023-10-15")]),
        ("تصاعدت الهجمات منذ منتصف أكتوبر.", [("منتصف أكتوبر", "2023-10-15")]),
        ("بدأت الحرب في 7 أكتوبر بهجوم واسع.", [("7 أكتوبر", "2023-10-07")]),
        ("تنتهي المهمة في موعد أقصاه نهاية سبتمبر 2025.", [("نهاية سبتمبر 2025", "2025-09")]),
        ("صدر القرار في ٤ يناير ٢٠٢٤ صباحا.", [("٤ يناير ٢٠٢٤", "2024-01-04")]),
        ("صدر القرار في ۴ يناير ۲۰۲۴.", [("۴ يناير ۲۰۲۴", "2024-01-04")]),
        ("نشر التقرير الخميس 4 يناير 2024 في العاصمة.", [("الخميس 4 يناير 2024", "2024-01-04")]),
        ("وأواخر ديسمبر، أغلقت الطرق.", [("أواخر ديسمبر", "2023-12")]),
        ("تأسس التحالف في العام 2014 لمواجهة التنظيم.", [("العام 2014", "2014")]),
        ("انتهت المهمة عام 2021 رسميا.", [("عام 2021", "2021")]),
        ("وفي نهاية العام 2021 تغير كل شيء.", [("نهاية العام 2021", "2021")]),
        ("افتتح المعرض في 15 رمضان 1445 هـ بحضور الوزير.", [("15 رمضان 1445 هـ", "2024-03-25")]),
    ],
)
def test_seed_like_phrases(text, expected):
    assert values(text) == expected


@pytest.mark.parametrize(
    "phrase,value",
    [
        ("3 جانفي 2022", "2022-01-03"), ("12 كانون الثاني 2022", "2022-01-12"),
        ("5 فيفري 2021", "2021-02-05"), ("5 شباط 2021", "2021-02-05"),
        ("1 آذار 2020", "2020-03-01"), ("2 إبريل 2019", "2019-04-02"),
        ("2 أفريل 2019", "2019-04-02"), ("9 نيسان 2019", "2019-04-09"),
        ("8 ماي 2018", "2018-05-08"), ("8 أيار 2018", "2018-05-08"),
        ("6 يونيه 2017", "2017-06-06"), ("6 جوان 2017", "2017-06-06"),
        ("6 حزيران 2017", "2017-06-06"), ("4 يوليه 2016", "2016-07-04"),
        ("4 جويلية 2016", "2016-07-04"), ("4 تموز 2016", "2016-07-04"),
        ("20 أوت 2015", "2015-08-20"), ("20 آب 2015", "2015-08-20"),
        ("11 أيلول 2001", "2001-09-11"), ("6 تشرين الأول 1973", "1973-10-06"),
        ("9 تشرين الثاني 1989", "1989-11-09"), ("25 كانون الأول 2000", "2000-12-25"),
        ("25 ديسمبر 2000", "2000-12-25"), ("1 نوفمبر 2000", "2000-11-01"),
        ("4 كانون الثاني/يناير 2024", "2024-01-04"), ("السابع من أكتوبر", "2023-10-07"),
        ("19 أكتوبر (تشرين الأول) 2012", "2012-10-19"), ("فبراير من العام 2002", "2002-02"),
        ("مارس 2020م", "2020-03"),
    ],
)
def test_month_forms(phrase, value):
    assert values(f"جرى ذلك في {phrase} حسب المصادر") == [(phrase, value)]


def test_month_without_year_resolution():
    assert values("في مارس الماضي", datetime(2018, 3, 10)) == [("مارس الماضي", "2017-03")]
    assert values("في مايو المقبل", datetime(2018, 3, 10)) == [("مايو المقبل", "2018-05")]
    assert values("في 16 فبراير الجاري", datetime(2018, 2, 20)) == [("16 فبراير الجاري", "2018-02-16")]
    assert values("في يناير من العام الماضي", datetime(2018, 3, 10)) == [
        ("يناير من العام الماضي", "2017-01")]
    # same month, later day: month-level rule keeps this year
    assert values("في 25 يناير", PUB) == [("25 يناير", "2024-01-25")]
    # without a publication date a yearless month cannot be resolved
    assert values("في 7 أكتوبر", None) == []
    assert values("في 7 أكتوبر 2023", None) == [("7 أكتوبر 2023", "2023-10-07")]


def test_weekdays_and_relative_words():
    assert values("استهدف القصف الخميس مقرا") == [("الخميس", "2024-01-04")]
    assert values("اجتمع المجلس يوم الاثنين") == [("يوم الاثنين", "2024-01-01")]
    assert values("وصل الوفد السبت الماضي") == [("السبت الماضي", "2023-12-30")]
    assert values("تعقد القمة الخميس المقبل") == [("الخميس المقبل", "2024-01-11")]
    assert values("قال الوزير اليوم إن") == [("اليوم", "2024-01-04")]
    assert values("وقع الانفجار أمس") == [("أمس", "2024-01-03")]
    assert values("أعلن أمس الأربعاء") == [("أمس الأربعاء", "2024-01-03")]
    assert values("وقع ذلك أول أمس") == [("أول أمس", "2024-01-02")]
    assert values("وقع ذلك أمس الأول") == [("أمس الأول", "2024-01-02")]
    assert values("يصل الوفد غداً") == [("غداً", "2024-01-05")]
    assert values("يصل الوفد غدا الجمعة") == [("غدا الجمعة", "2024-01-05")]
    assert values("الخميس", None) == []


def test_not_dates():
    assert values("وفي اليوم التالي عاد الهدوء") == []
    assert values("احتفل العالم باليوم العالمي للمرأة") == []
    assert values("مارس الضغط على الحكومة") == []
    assert values("قالت رئيسة الوزراء تيريزا ماي إن") == []
    assert values("ونشرت واشنطن 2500 عسكري في 115 موقعا") == []
    assert values("غدا الأمر صعبا على الجميع") == []
    assert values("") == []


def test_years_and_numeric():
    assert values("تراجعت الأسعار العام الماضي") == [("العام الماضي", "2023")]
    assert values("نتوقع نموا هذا العام") == [("هذا العام", "2024")]
    assert values("صدر في سنة 2019 كتاب") == [("سنة 2019", "2019")]
    assert values("بتاريخ 12/3/2023 وقع") == [("12/3/2023", "2023-03-12")]
    assert values("بتاريخ 2023-03-12 وقع") == [("2023-03-12", "2023-03-12")]
    assert values("بتاريخ 31/2/2023 وقع") == []


def test_hijri():
    assert values("في 1 محرم 1446 هـ") == [("1 محرم 1446 هـ", "2024-07-07")]
    assert values("في شهر رمضان 1445 هجري") == [("شهر رمضان 1445 هجري", "2024-03")]


def test_accepts_date_and_offsets_with_diacritics():
    text = "وَقَعَ ذَلِكَ فِي مُنْتَصَفِ أُكْتُوبَرَ الماضي"
    [d] = find_dates(text, date(2024, 1, 4))
    assert d.value == "2023-10-15" and text[d.start : d.end] == d.text
    assert d.text.startswith("مُنْتَصَفِ")


def test_a_weekday_attached_to_a_relative_word_names_the_day_when_the_page_is_a_day_late():
    # published on Monday 2031-03-10 (the page's date a day late): "اليوم (الأحد)" is Sunday
    monday = date(2031, 3, 10)
    assert values("أعلن الرئيس مساء اليوم (الأحد) حل المجلس", monday) == [("اليوم (الأحد", "2031-03-09")]
    assert values("أعلن الرئيس اليوم الأحد حل المجلس", monday) == [("اليوم الأحد", "2031-03-09")]
    # the same weekday as the page, or a weekday too far off to be a late page: the word stands
    assert values("أعلن الرئيس اليوم الاثنين", monday) == [("اليوم الاثنين", "2031-03-10")]
    assert values("أعلن الرئيس اليوم الخميس", monday) == [("اليوم الخميس", "2031-03-10")]


def test_today_before_the_object_of_the_verb_is_today():
    # "اليوم" then a definite noun that is not an ordinal or an adjective: the day of the news
    d = date(2031, 3, 10)
    assert values("وأعلن المجلس الدستوري اليوم الشغور النهائي للمنصب", d) == [("اليوم", "2031-03-10")]
    assert values("وتسلم الجيش اليوم المعبر الحدودي", d) == [("اليوم", "2031-03-10")]
    assert values("في اليوم الوطني للبلاد", d) == []
    assert values("وفي اليوم الأخير من المعرض", d) == []
    assert values("وفي اليوم الثالث عشر للحصار", d) == []
    assert values("منذ اليوم الذي وصل فيه", d) == []


def test_weekdays_without_a_publication_date():
    from shared.dates import find_weekdays
    text = "ضرب الزلزال المنطقة مساء الجمعة، وتعقد الحكومة اجتماعا الأحد المقبل ويوم الاثنين"
    assert [(text[s:e], wd) for s, e, wd in find_weekdays(text)] == [("الجمعة", 4), ("يوم الاثنين", 0)]


def test_upcoming_days_of_a_month_need_no_publication_date():
    from shared.dates import find_upcoming_days
    text = "على أن يعلن الفائز في الحادي عشر من ديسمبر المقبل، بعد وصول الملف في 20 مايو الماضي، وقبل 3 يونيو القادم"
    assert [(m, d) for _, _, m, d in find_upcoming_days(text)] == [(12, 11), (6, 3)]

"""Month names of Arabic news, in every regional series: the one month table of the project.

``GREGORIAN_MONTH_NAMES[m]`` lists the names of Gregorian month ``m`` (1–12) as written, the
Egyptian/Gulf name first (the one dateparser's Arabic locale reads), then the Maghrebi
(جانفي فيفري … أوت), Moroccan (غشت شتنبر نونبر دجنبر) and Levantine/Iraqi Syriac names
(كانون الثاني شباط آذار … كانون الأول) and common spelling variants. ``HIJRI_MONTH_NAMES[m]``
likewise for the Hijri months. Multi-word names are written with a space. Consumers fold them
with :mod:`shared.arabic` as they need (extract's date finder, the ingest gate's
``published_at`` parser).
"""

from __future__ import annotations

GREGORIAN_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("يناير", "جانفي", "جانفييه", "كانون الثاني", "كانون ثاني"),
    2: ("فبراير", "فيفري", "شباط", "فبرير"),
    3: ("مارس", "آذار"),
    4: ("أبريل", "إبريل", "ابريل", "أفريل", "نيسان"),
    5: ("مايو", "ماي", "أيار"),
    6: ("يونيو", "يونيه", "جوان", "حزيران"),
    7: ("يوليو", "يوليه", "جويلية", "جويليه", "تموز"),
    8: ("أغسطس", "اغسطس", "أوت", "آب", "غشت"),
    9: ("سبتمبر", "أيلول", "شتنبر"),
    10: ("أكتوبر", "اكتوبر", "تشرين الأول", "تشرين أول"),
    11: ("نوفمبر", "تشرين الثاني", "تشرين ثاني", "نونبر"),
    12: ("ديسمبر", "كانون الأول", "كانون أول", "دجنبر"),
}

HIJRI_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("محرم", "المحرم"),
    2: ("صفر",),
    3: ("ربيع الأول", "ربيع الاول"),
    4: ("ربيع الآخر", "ربيع الثاني"),
    5: ("جمادى الأولى", "جمادى الأول"),
    6: ("جمادى الآخرة", "جمادى الثانية", "جمادى الآخر"),
    7: ("رجب",),
    8: ("شعبان",),
    9: ("رمضان",),
    10: ("شوال",),
    11: ("ذو القعدة", "ذي القعدة"),
    12: ("ذو الحجة", "ذي الحجة"),
}

"""Each feed format, written by the test, through ``hadath feed`` into the real pipeline: every
record is indexed with its mapped fields (author, agency, dateline place, dates)."""

from __future__ import annotations

import json

from tests.unit.test_feed_formats import ATOM, RSS, STORY


def test_every_format_reaches_the_index_with_its_fields(make_pipeline, tmp_path):
    pipe = make_pipeline()
    (tmp_path / "np.json").write_text(json.dumps([{
        "maintext": STORY, "date_publish": "2025-03-09 08:30:00", "source_domain": "example-news.com",
        "authors": ["سامر يوسف"], "title": "برنامج لدعم مزارعي القمح", "url": "https://example-news.com/a1"}],
        ensure_ascii=False), encoding="utf-8")
    (tmp_path / "tr.jsonl").write_text(json.dumps({
        "text": STORY + " وأضاف أن التسجيل يبدأ الأسبوع المقبل.", "date": "2025-03-08", "hostname": "daily.example",
        "author": "ليلى حسن", "title": "دعم القمح", "url": "https://daily.example/x"}, ensure_ascii=False) + "\n",
        encoding="utf-8")
    (tmp_path / "feed.rss").write_text(RSS.format(story=STORY + " وتبدأ المرحلة الأولى في حلب."), encoding="utf-8")
    (tmp_path / "feed.xml").write_text(ATOM.format(story=STORY + " والتمويل من صندوق التنمية."), encoding="utf-8")
    (tmp_path / "page.html").write_text(
        "<html><head><title>دعم القمح</title></head><body><nav><a href='/'>الرئيسية</a> <a href='/s'>رياضة</a></nav>"
        f"<article><h1>برنامج لدعم مزارعي القمح</h1><p>دمشق (رويترز) - {STORY}</p>"
        "<p>وقال مسؤول إن المرحلة الثانية تشمل محافظات الجنوب.</p></article>"
        "<aside>الأكثر قراءة: عنوان آخر لا علاقة له</aside><footer>جميع الحقوق محفوظة</footer></body></html>",
        encoding="utf-8")
    report = pipe.feed(tmp_path, source="formats-test")
    assert sorted(report.formats.values()) == ["atom", "html", "news-please", "rss", "trafilatura"]
    assert report.sent == 5 and report.refused == 0
    pipe.wait()
    docs = {d["url"]: d for d in pipe.docs()}
    assert len(docs) == 5, sorted(docs)
    assert docs["https://example-news.com/a1"]["author"] == "سامر يوسف"
    assert docs["https://example-news.com/a1"]["published_at"].startswith("2025-03-09T08:30")
    assert docs["https://daily.example/x"]["author"] == "ليلى حسن"
    assert docs["https://rss.example/1"]["author"] == "نادر سليم"
    assert docs["https://atom.example/2"]["title"] == "دعم القمح"
    page = next(d for d in docs.values() if d.get("agency") == "Reuters")
    assert page["dateline_place"] == "دمشق" and "الرئيسية" not in page["body"] and "الحقوق" not in page["body"]
    assert all(d.get("event_id") for d in docs.values())
    assert pipe.dead_letters() == []

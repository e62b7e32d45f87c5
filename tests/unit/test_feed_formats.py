"""``hadath feed`` formats: each file is written by the test, read by ``records`` and put
through the real ingest gate (no Kafka)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hadath.feed import FeedReport, expand, file_format, records
from services.ingest.gate import process_raw

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
STORY = ("أعلنت وزارة الزراعة يوم الأحد إطلاق برنامج جديد لدعم مزارعي القمح في المحافظات الشمالية. "
         "وقال الوزير إن البرنامج يشمل قروضا ميسرة وبذورا محسنة لأكثر من عشرين ألف مزارع.")


def _ingest(path, source=None):
    report = FeedReport()
    recs = list(records(path, source=source, report=report))
    stories = [process_raw(r.value, ingested_at=NOW)[0] for r in recs]
    return report, recs, stories


def test_news_please_json_fields_are_mapped(tmp_path):
    path = tmp_path / "np.json"
    path.write_text(json.dumps([{"maintext": STORY, "date_publish": "2025-03-09 08:30:00",
                                 "source_domain": "example-news.com", "authors": ["سامر يوسف"],
                                 "title": "برنامج لدعم مزارعي القمح", "url": "https://example-news.com/a1",
                                 "image_url": "https://example-news.com/a1.jpg", "language": "ar"}],
                               ensure_ascii=False), encoding="utf-8")
    assert file_format(path) == "news-please"
    report, _, (art,) = _ingest(path)
    assert report.formats == {str(path): "news-please"}
    assert art.source == "example-news.com" and art.url == "https://example-news.com/a1"
    assert art.published_at == datetime(2025, 3, 9, 8, 30, tzinfo=UTC)
    assert art.author == "سامر يوسف" and art.title == "برنامج لدعم مزارعي القمح"
    assert art.extra["image_url"].endswith(".jpg")


def test_trafilatura_json_lines_fields_are_mapped(tmp_path):
    path = tmp_path / "tr.jsonl"
    path.write_text(json.dumps({"text": STORY, "date": "2025-03-08", "hostname": "daily.example",
                                "author": "ليلى حسن", "title": "دعم القمح", "url": "https://daily.example/x",
                                "fingerprint": "abc"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert file_format(path) == "trafilatura"
    report, _, (art,) = _ingest(path)
    assert report.formats[str(path)] == "trafilatura"
    assert art.source == "daily.example" and art.author == "ليلى حسن"
    assert art.published_at == datetime(2025, 3, 8, tzinfo=UTC) and art.extra["fingerprint"] == "abc"


RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>أخبار المثال</title><link>https://rss.example/</link>
<item><title>برنامج لدعم مزارعي القمح</title><link>https://rss.example/1</link><guid>rss-1</guid>
<pubDate>Sun, 09 Mar 2025 08:30:00 +0300</pubDate><author>نادر سليم</author>
<description><![CDATA[<p>{story}</p>]]></description></item></channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>نشرة أطوم</title><id>urn:x</id>
<updated>2025-03-09T10:00:00Z</updated>
<entry><title>دعم القمح</title><link href="https://atom.example/2"/><id>urn:x:2</id>
<updated>2025-03-09T10:00:00Z</updated><author><name>هدى علي</name></author>
<content type="html">&lt;p&gt;{story}&lt;/p&gt;</content></entry></feed>"""


def test_rss_file_and_atom_file_url(tmp_path):
    rss = tmp_path / "feed.rss"
    rss.write_text(RSS.format(story=STORY), encoding="utf-8")
    atom = tmp_path / "feed.xml"
    atom.write_text(ATOM.format(story=STORY), encoding="utf-8")
    assert file_format(rss) == "rss" and file_format(atom) == "atom"
    report, _, (art,) = _ingest(rss)
    assert report.formats == {str(rss): "rss"}
    assert art.source == "أخبار المثال" and art.url == "https://rss.example/1" and art.author == "نادر سليم"
    assert art.published_at == datetime(2025, 3, 9, 5, 30, tzinfo=UTC) and art.body.startswith("أعلنت")
    url = f"file://{atom}"
    assert expand([url]) == [atom]
    report, _, (art,) = _ingest(url)
    assert report.formats == {str(atom): "atom"} and art.author == "هدى علي" and art.title == "دعم القمح"


def test_html_page_main_text_and_text_page_furniture(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>دعم القمح</title></head><body><nav><a href='/'>الرئيسية</a> <a href='/s'>رياضة</a></nav>"
        f"<article><h1>برنامج لدعم مزارعي القمح</h1><p>دمشق (رويترز) - {STORY}</p>"
        f"<p>{STORY}</p></article><aside>الأكثر قراءة: عنوان آخر لا علاقة له</aside>"
        "<footer>جميع الحقوق محفوظة</footer></body></html>", encoding="utf-8")
    assert file_format(page) == "html"
    report, _, (art,) = _ingest(page, source="page-site")
    assert report.formats[str(page)] == "html"
    assert "\nأعلنت" in art.body and "دمشق" not in art.body  # the dateline is a field
    assert "الرئيسية" not in art.body and "الحقوق" not in art.body and "عنوان آخر" not in art.body
    assert art.agency == "Reuters" and art.dateline_place == "دمشق"
    text = tmp_path / "scraped.txt"
    text.write_text("الثلاثاء 4 مارس 2025 10:15 ص\nشارك\n"
                    "القاهرة - خاص: " + STORY + "\nTap to share this story https://t.example/x\n"
                    "اقرأ أيضا: عنوان خبر آخر\nالمصدر: أ ف ب\n", encoding="utf-8")
    assert file_format(text) == "text"
    _, _, (art,) = _ingest(text)
    assert art.published_at == datetime(2025, 3, 4, 10, 15, tzinfo=UTC)
    assert art.agency == "AFP" and "share" not in art.body and "عنوان خبر آخر" not in art.body
    assert art.body.endswith("ألف مزارع.")

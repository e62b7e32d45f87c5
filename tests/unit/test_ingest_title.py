"""A title-less scraped page takes its headline line as the title."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.ingest.gate import process_raw


def _run(body: str, **extra):
    return process_raw(json.dumps({"body": body, **extra}, ensure_ascii=False).encode(),
                       ingested_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_headline_line_becomes_the_title_of_an_untitled_page():
    page = "افتتاح جسر جديد في الموصل\n\nافتتح محافظ نينوى جسرا جديدا على نهر دجلة في الموصل صباح اليوم."
    (story,) = _run(page)
    assert story.title == "افتتاح جسر جديد في الموصل"
    assert story.body.startswith("افتتح محافظ نينوى")


def test_given_title_and_sentence_first_lines_are_left_alone():
    body = "افتتح محافظ نينوى جسرا جديدا على نهر دجلة في الموصل صباح اليوم.\nوحضر الافتتاح عدد من المسؤولين."
    assert _run(body)[0].title is None and _run(body)[0].body == body
    titled = _run("عنوان قصير\nنص الخبر عن البصرة.", title="العنوان")
    assert titled[0].title == "العنوان" and titled[0].body.startswith("عنوان قصير")

"""Walking skeleton, end to end on the real Kafka and Elasticsearch (issue: walking skeleton)."""

from __future__ import annotations

import json
import time

from tests.conftest import shared_file
from tests.integration.conftest import jsonl_bytes


def test_seed_page_becomes_two_searchable_documents(make_pipeline, tmp_path):
    seed = shared_file("seed", "page-baghdad-strike.txt")
    pipe = make_pipeline()
    report = pipe.feed(seed, source="omandaily")
    assert (report.sent, report.refused) == (1, 0)
    pipe.wait()

    docs = pipe.docs()
    assert len(docs) == 2, [d.get("title") for d in docs]
    main = next(d for d in docs if d["parent_id"] is None)
    embedded = next(d for d in docs if d["parent_id"] is not None)
    assert embedded["parent_id"] == main["article_id"]
    assert "الحشد الشعبي" in main["body"]
    assert "نهاية سبتمبر 2025" in embedded["body"]
    for d in docs:
        for junk in ("ثلاثة صواريخ تستهدف", "مقالات مشابهة", "كلمات دلالية", "بقلم"):
            assert junk not in d["body"], (junk, d["title"])

    result = pipe.search("الحشد الشعبي")
    assert result["hits"][0]["article_id"] == main["article_id"]
    locs = [e for e in result["hits"][0]["entities"] if e["label"] == "LOC" and e["normalized"] == "بغداد"]
    assert locs, result["hits"][0]["entities"]
    baghdad = [p for p in result["hits"][0]["places"] if p["geonameid"] == 98182]
    assert baghdad and abs(baghdad[0]["location"]["lat"] - 33.34) < 0.2 and abs(baghdad[0]["location"]["lon"] - 44.40) < 0.2
    assert {f["value"] for f in result["facets"]["LOC"]} >= {"بغداد"}


def test_bad_messages_are_dead_lettered_and_the_next_good_one_indexed(make_pipeline):
    pipe = make_pipeline()
    truncated = '{"title": "خبر", "body": "نص لم يكتمل'.encode()
    not_utf8 = b'{"title": "\xd8 bad", "body": "\xff\xfe \xd8\xa8"}'
    good = jsonl_bytes({"source": "test", "title": "اجتماع في الموصل", "author": "مراسلنا", "tags": ["نينوى"],
                        "body": "عقد مجلس محافظة نينوى اجتماعا في الموصل اليوم لبحث إعادة الإعمار."})[0]
    pipe.send_raw(truncated, not_utf8, good)
    pipe.wait()

    dead = pipe.dead_letters(expected=2)
    assert len(dead) == 2
    by_type = {d.error_type: d for d in dead}
    assert set(by_type) == {"invalid_json", "invalid_utf8"}
    assert by_type["invalid_json"].payload.encode() == truncated
    import base64

    assert by_type["invalid_utf8"].payload_encoding == "base64"
    assert base64.b64decode(by_type["invalid_utf8"].payload) == not_utf8
    for d in dead:
        assert d.stage == "ingest" and d.error_message and d.topic == pipe.topics.raw and d.offset is not None
    assert pipe.count() == 1
    # a producer's own fields are kept with the article, not refused
    assert pipe.docs()[0]["extra"] == {"author": "مراسلنا", "tags": ["نينوى"]}
    result = pipe.search("الموصل")
    assert result["total"] == 1
    # every article gets a predicted topic, a facet of its own
    assert result["hits"][0]["topic"] in {"culture", "economy", "internationalNews", "middleEast", "sport", "technology"}
    assert [b["count"] for b in result["facets"]["topic"]] == [1]


def test_news_slice_indexed_exactly_once(make_pipeline, capsys):
    slice_path = shared_file("data", "news", "ant-2k.jsonl")
    unique = {json.loads(line)["url"] for line in slice_path.read_text().splitlines() if line.strip()}
    pipe = make_pipeline()
    started = time.monotonic()
    report = pipe.feed(slice_path)
    assert report.refused == 0
    pipe.wait(timeout_seconds=1200)
    wall_seconds = time.monotonic() - started
    assert pipe.count() == len(unique)
    assert pipe.dead_letters() == []
    with capsys.disabled():  # a measurement, printed (not asserted): see bench/bench_pipeline.py
        print(f"\n2k slice: {len(unique)} articles indexed in {wall_seconds:.1f} s "
              f"({len(unique) / wall_seconds:.1f} articles/s, one extract worker)")

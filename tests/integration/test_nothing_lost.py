"""Nothing lost on the real Kafka and Elasticsearch: an output too large for its topic, a 1 MB
article, and hostile raw messages sent by a foreign producer, each beside good articles."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from tests.integration.conftest import jsonl_bytes

pytestmark = pytest.mark.integration

LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
SENTENCE = "وقال المتحدث باسم الوزارة إن الاجتماع بحث الأوضاع الأمنية في المحافظة وسبل دعم الأهالي. "


def good(n: int) -> bytes:
    """A small ordinary article, its own article_id."""
    (value,) = jsonl_bytes({"source": "test", "title": f"خبر رقم {n} عن الموصل",
                            "body": f"عقد مجلس محافظة نينوى اجتماعه رقم {n} في الموصل لبحث إعادة الإعمار."})
    return value


def random_words(chars: int, seed: int) -> str:
    """Arabic-letter words that compress badly (so a size limit is met after zstd too)."""
    rng = random.Random(seed)
    words, size = [], 0
    while size < chars:
        word = "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 9)))
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def test_an_output_too_large_for_its_topic_is_dead_lettered_whole_and_its_batch_goes_on(make_pipeline):
    pipe = make_pipeline()
    limit_bytes = 16_000
    admin = KafkaAdminClient(bootstrap_servers=pipe.settings.kafka_bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, pipe.topics.normalized,
                                            configs={"max.message.bytes": str(limit_bytes)})], incremental=True)
    finally:
        admin.close()
    (big,) = jsonl_bytes({"source": "test", "title": "مقال طويل", "body": random_words(30_000, seed=1)})
    pipe.send_raw(good(1), big, good(2))
    pipe.wait()

    (dead,) = pipe.dead_letters(expected=1)
    assert (dead.stage, dead.error_type) == ("normalize", "output_too_large"), dead
    assert dead.topic == pipe.topics.ingested and json.loads(dead.payload)["title"] == "مقال طويل"
    assert "MessageSizeTooLarge" in dead.error_message or "TooLarge" in dead.error_message
    assert pipe.count() == 2
    assert {d["title"] for d in pipe.docs()} == {"خبر رقم 1 عن الموصل", "خبر رقم 2 عن الموصل"}


def test_a_1_mb_article_is_indexed_whole(make_pipeline):
    pipe = make_pipeline()
    last = "زمردستان"  # a made-up word found only in the last paragraph
    paragraphs = []
    while len("\n".join(paragraphs).encode()) < 980_000:
        paragraphs.append(SENTENCE * 20)
    paragraphs.append(f"وفي الختام زار الوفد قرية {last} الحدودية.")
    body = "\n".join(paragraphs)
    (value,) = jsonl_bytes({"source": "test", "title": "تقرير مطول", "body": body})
    assert 950_000 < len(value) <= pipe.settings.max_message_bytes
    path = pipe.settings.home / f"{pipe.settings.group_prefix}-big.jsonl"
    path.write_bytes(value + b"\n" + good(3) + b"\n")
    try:
        report = pipe.feed(path)
    finally:
        path.unlink()
    assert (report.sent, report.refused) == (2, 0)
    pipe.wait(timeout_seconds=600)

    assert pipe.dead_letters() == []
    assert pipe.count() == 2
    result = pipe.search(last)
    assert result["total"] == 1 and result["hits"][0]["title"] == "تقرير مطول"
    (doc,) = [d for d in pipe.docs() if d["title"] == "تقرير مطول"]
    assert doc["body"] == body


def test_hostile_raw_messages_never_cost_the_good_article_after_them(make_pipeline):
    pipe = make_pipeline()
    long_token = "ب" * 80_000
    hostile = {
        "truncated": b'{"title": "\xd8\xae\xd8\xa8\xd8\xb1", "body": "\xd9\x86\xd8\xb5',
        "array": b"[1, 2, 3]",
        "not_utf8": b'{"body": "\xff\xfe\xfd"}',
        "no_body": '{"title": "بلا نص"}'.encode(),
        "too_large": jsonl_bytes({"title": "ضخم", "body": SENTENCE * 40_000})[0],  # about 3.5 MB
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "emoji_only": jsonl_bytes({"title": "😀", "body": "😀🔥🎉" * 500})[0],
        "bom_crlf": b"\xef\xbb\xbf" + jsonl_bytes({"title": "سطور", "body": "السطر الأول عن كركوك\r\nالسطر الثاني عن أربيل"})[0],
        "long_token": jsonl_bytes({"title": "كلمة طويلة", "body": f"خبر عن مدينة السليمانية {long_token} نهاية"})[0],
        "spaces": jsonl_bytes({"title": "فراغات", "body": " " * 100_000 + "خبر عن مدينة دهوك" + " " * 100_000})[0],
        "marks": jsonl_bytes({"title": "حركات", "body": "خبر عن الناصرية " + "\u064e" * 100_000})[0],
    }
    values = []
    for n, value in enumerate(hostile.values()):
        values += [value, good(n)]
    pipe.send_raw(*values)
    pipe.wait(timeout_seconds=600)

    docs = pipe.docs()
    titles = {d["title"] for d in docs}
    assert {f"خبر رقم {n} عن الموصل" for n in range(len(hostile))} <= titles  # every good neighbour
    dead = pipe.dead_letters(expected=6)
    by_payload = {}
    for d in dead:
        by_payload.setdefault(d.error_type, []).append(d)
    assert len(dead) + len(docs) == 2 * len(hostile), (sorted(titles), [(d.error_type, d.error_message[:80]) for d in dead])
    assert {d.error_type for d in dead} >= {"invalid_json", "not_an_object", "invalid_utf8", "schema", "too_large"}
    assert all(d.stage == "ingest" for d in dead), [(d.stage, d.error_type) for d in dead]
    # what is fixable is indexed, cleaned
    assert "كلمة طويلة" in titles and pipe.search("السليمانية")["total"] == 1
    (lines,) = [d for d in docs if d["title"] == "سطور"]
    assert "\r" not in lines["body"] and "\ufeff" not in lines["body"]
    assert "فراغات" in titles and "حركات" in titles


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat (Debian package) is not installed")
def test_hostile_messages_from_kcat_a_foreign_client(make_pipeline, tmp_path):
    """The same kinds sent by kcat (librdkafka), not by our own producer, each with a good one."""
    pipe = make_pipeline()
    hostile = [
        b'{"title": "x", "body": "\xd9\x86\xd8',  # cut inside a character
        jsonl_bytes({"title": "نول", "body": "خبر\u0000عن\u0000الموصل"})[0],
        b"\xef\xbb\xbf" + jsonl_bytes({"title": "سطور", "body": "خبر عن كركوك\r\nسطر ثان"})[0],
        jsonl_bytes({"body": "🔥" * 300})[0],
        b"[" * 50_000 + b"]" * 50_000,
        b'{"body": "\xff\xfe bad bytes"}',
        jsonl_bytes({"title": "طويل", "body": "خبر عن الرمادي " + "م" * 80_000})[0],
        jsonl_bytes({"title": "فراغات", "body": " " * 100_000 + "خبر عن تكريت"})[0],
    ]
    stream = tmp_path / "kcat.bin"
    stream.write_bytes(b"".join(h + b"\x1e" + good(n) + b"\x1e" for n, h in enumerate(hostile)))
    with stream.open("rb") as stdin:
        subprocess.run(["kcat", "-P", "-b", pipe.settings.kafka_bootstrap, "-t", pipe.topics.raw, "-D", "\x1e",
                        "-X", "message.max.bytes=16000000"], stdin=stdin, check=True, timeout=120)
    pipe.wait(timeout_seconds=600)

    docs = pipe.docs()
    dead = pipe.dead_letters(expected=4)
    assert {d["title"] for d in docs} >= {f"خبر رقم {n} عن الموصل" for n in range(len(hostile))}
    assert {d["title"] for d in docs if d["source"] != "test"} == {"نول", "سطور", "طويل", "فراغات"}
    assert sorted(d.error_type for d in dead) == ["invalid_json", "invalid_utf8", "invalid_utf8", "unsupported_language"]
    assert len(docs) + len(dead) == 2 * len(hostile)
    (nul,) = [d for d in docs if d["title"] == "نول"]
    assert "\u0000" not in nul["body"]

"""Unit tests of feed's record reading, the dead-letter record and the search request body."""

from __future__ import annotations

import base64
import json

import pytest

from hadath.feed import FeedReport, expand, records
from shared.schemas import DeadLetter
from shared.search import build_query, parse_entity_filter
from shared.settings import Settings, env_name, settings_env
from shared.streaming import StageError, dead_letter


def test_jsonl_lines_are_sent_byte_for_byte(tmp_path):
    raw = [b'{"body": "\xd8\xae\xd8\xa8\xd8\xb1"}', b'{"body": "truncated', b"\xff\xfe not utf8"]
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(raw[:2]) + b"\n\n" + raw[2] + b"\n")
    report = FeedReport()
    got = list(records(path, source=None, report=report))
    assert [r.value for r in got] == raw
    assert [r.origin for r in got] == [f"{path}:1", f"{path}:2", f"{path}:4"]


def test_text_and_html_files_are_wrapped_with_their_content_type(tmp_path):
    (tmp_path / "p.txt").write_text("خبر عاجل من بغداد", encoding="utf-8")
    (tmp_path / "p.html").write_text("<p>خبر</p>", encoding="utf-8")
    (tmp_path / "skip.bin").write_bytes(b"\x00")
    files = expand([tmp_path])
    assert [f.name for f in files] == ["p.html", "p.txt"]
    report = FeedReport()
    html, text = (json.loads(next(records(f, source="site", report=report)).value) for f in files)
    assert html == {"source": "site", "body": "<p>خبر</p>", "content_type": "text/html"}
    assert text["content_type"] == "text/plain" and text["body"] == "خبر عاجل من بغداد"


def test_json_array_file_gives_one_record_per_item_and_bad_text_is_refused(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"body": "أ"}, {"body": "ب"}]), encoding="utf-8")
    report = FeedReport()
    assert len(list(records(path, source=None, report=report))) == 2
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\xfd")
    assert list(records(bad, source=None, report=report)) == []
    assert report.refused == 1 and "not UTF-8" in report.reasons[0]


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        expand([tmp_path / "nope.jsonl"])


def test_dead_letter_keeps_non_utf8_payload_whole_as_base64():
    payload = b'{"body": "\xff"}'
    record = dead_letter("ingest", StageError("invalid_utf8", "bytes are not UTF-8"), payload=payload,
                         key=None, topic="articles.raw", partition=3, offset=7)
    again = DeadLetter.model_validate_json(record.model_dump_json())
    assert again.payload_encoding == "base64" and base64.b64decode(again.payload) == payload
    assert (again.stage, again.error_type, again.partition, again.offset) == ("ingest", "invalid_utf8", 3, 7)


def test_entity_filter_parsing_uses_canonical_keys():
    assert parse_entity_filter("loc:بغـــداد") == parse_entity_filter("LOC:بغداد")
    with pytest.raises(ValueError, match="LABEL:VALUE"):
        parse_entity_filter("PLACE:بغداد")


def test_search_body_has_filters_and_every_facet():
    body = build_query("بغداد", entities=[("LOC", "بغداد")], sources=["a"], size=3)
    assert body["size"] == 3
    assert set(body["aggs"]) == {"PERS", "LOC", "ORG", "MISC", "source", "topic", "published_at"}
    assert build_query("x", collapse_duplicates=True)["query"]["bool"]["must_not"] == [
        {"exists": {"field": "duplicate_of"}}]
    assert {"term": {"entity_keys.LOC": "بغداد"}} in body["query"]["bool"]["filter"]


def test_settings_env_round_trips(monkeypatch):
    s = Settings(topic_prefix="x.", index_alias="idx")
    env = settings_env(s)
    assert env[env_name("topic_prefix")] == "x." and env["HADATH_INDEX_ALIAS"] == "idx"
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert Settings() == s


def test_count_records_matches_what_feed_reads(tmp_path):
    from hadath.feed import count_records

    (tmp_path / "a.jsonl").write_bytes(b'{"body": "x"}\n\n{"body": "y"}\n')
    (tmp_path / "b.json").write_text('[{"body": "x"}, {"body": "y"}, {"body": "z"}]', encoding="utf-8")
    (tmp_path / "c.html").write_text("<p>خبر</p>", encoding="utf-8")
    assert count_records([tmp_path]) == 6
    assert count_records([tmp_path / "missing"]) is None


def test_search_since_and_until_take_days_iso_times_and_ages_with_clear_errors():
    from datetime import date, datetime

    from hadath.cli import _moment
    from hadath.replay import parse_since

    assert _moment("2026-01-05", "--since", parse_since) == date(2026, 1, 5)
    assert isinstance(_moment("2h", "--since", parse_since), datetime)
    assert _moment(None, "--until", parse_since) is None
    with pytest.raises(ValueError, match="--until '2026-13-45'.*YYYY-MM-DD"):
        _moment("2026-13-45", "--until", parse_since)
    with pytest.raises(ValueError, match="--until 'yesterday'"):
        _moment("yesterday", "--until", parse_since)

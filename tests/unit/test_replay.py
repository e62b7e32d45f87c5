"""Dead-letter replay, the pure part (hadath/replay.py): selection, decoding, targets, --since."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hadath import replay
from shared.schemas import DeadLetter
from shared.settings import Settings, env_name
from shared.streaming import StageError, dead_letter
from shared.topics import Topics

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
TOPICS = Topics.from_settings(Settings(topic_prefix="p."))


def dl(stage="ingest", error_type="schema", failed_at=NOW, **kw) -> DeadLetter:
    fields = {"error_message": "bad", "topic": "p.articles.raw", "partition": 3, "offset": 41,
              "key": None, "payload": '{"title": "خبر"}'} | kw
    return DeadLetter(stage=stage, error_type=error_type, failed_at=failed_at, **fields)


def test_each_stage_is_replayed_to_the_topic_it_reads_and_feed_to_raw():
    got = {stage: replay.target_topic(TOPICS, stage) for stage in replay.STAGES}
    assert got == {"feed": "p.articles.raw", "ingest": "p.articles.raw", "normalize": "p.articles.ingested",
                   "extract": "p.articles.normalized", "events": "p.articles.enriched",
                   "index": "p.articles.clustered"}


def test_select_filters_by_any_of_the_stages_and_error_types_and_by_failed_at():
    a = dl("ingest", "missing_body", NOW - timedelta(hours=3))
    b = dl("index", "index_rejected", NOW - timedelta(minutes=10))
    c = dl("extract", "schema", NOW)
    everything = [a, b, c]
    assert replay.select(everything) == everything
    assert replay.select(everything, stages=["index", "extract"]) == [b, c]
    assert replay.select(everything, error_types=["schema", "missing_body"]) == [a, c]
    assert replay.select(everything, stages=["index"], error_types=["schema"]) == []
    assert replay.select(everything, since=NOW - timedelta(hours=1)) == [b, c]
    assert replay.select(everything, since=NOW) == [c]  # inclusive


def test_a_naive_failed_at_is_compared_as_utc():
    naive = dl(failed_at=datetime(2026, 1, 10, 11, 0))
    assert replay.select([naive], since=datetime(2026, 1, 10, 10, 59, tzinfo=UTC)) == [naive]
    assert replay.select([naive], since=datetime(2026, 1, 10, 11, 1, tzinfo=UTC)) == []


@pytest.mark.parametrize("text, expected", [
    ("2h", NOW - timedelta(hours=2)), ("30m", NOW - timedelta(minutes=30)), ("1d", NOW - timedelta(days=1)),
    ("45s", NOW - timedelta(seconds=45)), ("1w", NOW - timedelta(weeks=1)), (" 1.5H ", NOW - timedelta(minutes=90)),
    ("2026-01-05", datetime(2026, 1, 5, tzinfo=UTC)),
    ("2026-01-05T10:00:00", datetime(2026, 1, 5, 10, tzinfo=UTC)),
    ("2026-01-05T10:00:00+03:00", datetime(2026, 1, 5, 7, tzinfo=UTC)),
    ("2026-01-05T07:00:00Z", datetime(2026, 1, 5, 7, tzinfo=UTC)),
])
def test_since_accepts_iso_8601_and_ages(text, expected):
    got = replay.parse_since(text, now=NOW)
    assert got == expected and got.tzinfo is not None


@pytest.mark.parametrize("text", ["yesterday", "2 hours", "-1h", "10x", ""])
def test_since_refuses_anything_else_with_the_forms_it_takes(text):
    with pytest.raises(ValueError, match="30m, 2h, 1d"):
        replay.parse_since(text, now=NOW)


def test_check_stages_names_the_unknown_one():
    assert replay.check_stages(["index", "feed"]) == ["index", "feed"]
    with pytest.raises(ValueError, match="'indexer'"):
        replay.check_stages(["index", "indexer"])


def test_to_record_sends_the_original_bytes_back_with_a_header_naming_their_origin():
    d = dl("normalize", key="0123456789abcdef0123", payload='{"article_id": "0123456789abcdef0123"}',
           topic="p.articles.ingested", partition=5, offset=7)
    rec = replay.to_record(d, TOPICS)
    assert (rec.topic, rec.key, rec.value) == ("p.articles.ingested", b"0123456789abcdef0123",
                                              '{"article_id": "0123456789abcdef0123"}'.encode())
    assert rec.headers == [(replay.REPLAY_HEADER, b"p.articles.ingested/5/7")]
    assert rec.dead_letter is d


def test_what_the_dead_letter_writer_encoded_comes_back_byte_for_byte():
    """Round trip through the very function the services use to write dead letters."""
    cases = [
        (b'{"title": "\xd8 bad", "body": "\xff\xfe"}', None),   # not UTF-8: payload in base64
        (b'{"title": "\xd8 bad"}', b"\xff\x00key"),              # ... and a key that is not UTF-8
        (b'{"title": "\xd8 bad"}', b"0123456789abcdef0123"),   # hex article id: valid base64, kept as text
        (b'{"title": "\xd8 bad"}', b"6f1c2d3e-0a4b-4c5d-8e9f-0123456789ab"),  # a UUID likewise
        ('{"body": "نص"}'.encode(), "مفتاح".encode()),          # UTF-8 both
        (b"", None),                                            # empty message
        (b'{"body": "\x00\x01\x02\x03"}', b"0123456789abcdef0123"),  # UTF-8 full of control characters
    ]
    for payload, key in cases:
        written = dead_letter("ingest", StageError("invalid_utf8", "x"), payload=payload, key=key,
                              topic="p.articles.raw", partition=0, offset=1)
        again = DeadLetter.model_validate_json(written.model_dump_json())
        rec = replay.to_record(again, TOPICS)
        assert (rec.value, rec.key) == (payload, key), (payload, key)


def test_a_utf8_key_that_happens_to_be_base64_stays_text_when_the_payload_was_text():
    d = dl(key="abcd", payload="{}")  # "abcd" is valid base64 of non-UTF-8 bytes
    assert replay.decode_key(d) == b"abcd"


def test_origin_marks_unknown_parts():
    assert replay.origin(dl(topic=None, partition=None, offset=None)) == "?/?/?"


def test_parse_dead_letters_skips_records_that_are_not_dead_letters():
    good = dl().model_dump_json().encode()
    records, unreadable = replay.parse_dead_letters([good, b"not json", b'{"stage": "ingest"}', good])
    assert len(records) == 2 and unreadable == 2


def test_counts_per_stage_and_target():
    recs = [replay.to_record(d, TOPICS) for d in (dl("index"), dl("ingest"), dl("index"), dl("feed"))]
    assert replay.counts(recs) == {("feed", "p.articles.raw"): 1, ("index", "p.articles.clustered"): 2,
                                   ("ingest", "p.articles.raw"): 1}


def test_the_replay_producer_takes_any_record_a_pipeline_topic_held():
    from shared import limits

    for settings in (Settings(max_message_bytes=1024), Settings(), Settings(max_message_bytes=4_000_000)):
        assert limits.producer_max_request_bytes(settings) >= limits.pipeline_record_bytes(settings)


def test_an_offset_aware_failed_at_in_another_zone_compares_correctly():
    d = dl(failed_at=datetime(2026, 1, 10, 14, 0, tzinfo=timezone(timedelta(hours=3))))  # 11:00 UTC
    assert replay.select([d], since=replay.parse_since("2026-01-10T10:30:00Z")) == [d]
    assert replay.select([d], since=replay.parse_since("2026-01-10T11:30:00Z")) == []


def test_base64_payload_decodes():
    d = dl(payload=base64.b64encode(b"\xff\xfe").decode(), payload_encoding="base64")
    assert replay.decode_payload(d) == b"\xff\xfe"


@pytest.fixture
def cli(monkeypatch):
    """``hadath`` with the dead-letter topic and the producer replaced: ``(run, sent)``; ``run(*args)``
    invokes the CLI on two dead letters (plus one foreign record), ``sent`` collects every send."""
    from typer.testing import CliRunner

    from hadath import cli as cli_module, kafka_admin

    values = [dl("ingest", "schema").model_dump_json().encode(), b"junk",
              dl("index", "index_rejected", key="k1", topic="articles.enriched").model_dump_json().encode()]
    sent: list[list] = []
    for field in Settings.model_fields:  # default settings (no prefix), whatever the shell has
        monkeypatch.delenv(env_name(field), raising=False)
    monkeypatch.setattr(kafka_admin, "read_dead_letter_values", lambda settings: values)
    monkeypatch.setattr(kafka_admin, "send_records", lambda settings, records: sent.append(records))
    monkeypatch.setattr(cli_module.out, "width", 200)
    return (lambda *args: CliRunner().invoke(cli_module.app, ["deadletters", "replay", *args])), sent


def test_cli_dry_run_sends_nothing_and_says_what_it_would_send(cli):
    run, sent = cli
    result = run("--dry-run", "--stage", "index")
    assert result.exit_code == 0, result.output
    assert sent == []
    assert "would replay 1 of 2 dead letters" in result.output
    assert "would replay 1 index → articles.clustered" in result.output
    assert "articles.enriched/3/41" in result.output and "dry run: nothing sent" in result.output


def test_cli_sends_the_selection(cli):
    run, sent = cli
    result = run("--stage", "index", "--stage", "ingest", "--error-type", "schema")
    assert result.exit_code == 0, result.output
    (records,) = sent
    assert [(r.topic, r.dead_letter.stage) for r in records] == [("articles.raw", "ingest")]
    assert "replayed 1 ingest → articles.raw" in result.output and "dry run" not in result.output


@pytest.mark.parametrize("args, message", [(["--since", "soon"], "30m, 2h, 1d"), (["--stage", "indexer"], "'indexer'")])
def test_cli_refuses_a_bad_option_before_reading_anything(cli, args, message):
    run, sent = cli
    result = run(*args)
    assert result.exit_code == 2 and message in result.output and sent == []


def test_a_payload_that_claims_base64_but_is_not_is_set_aside_not_raised():
    bad = dl(payload="not base64!", payload_encoding="base64")
    good = dl("index")
    records, refused = replay.to_records([bad, good], TOPICS)
    assert [r.dead_letter for r in records] == [good]
    assert [d for d, _ in refused] == [bad] and "cannot be decoded" in refused[0][1]

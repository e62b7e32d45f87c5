"""The stage loop (shared.streaming.StageRunner) with a fake producer that fails on demand: a
batch is done only when each message's outputs or its dead letter were acknowledged."""

from __future__ import annotations

import asyncio
import base64
import time
from types import SimpleNamespace

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from shared.retry import Backoff
from shared.schemas import DeadLetter
from shared.settings import Settings
from shared.streaming import InMessage, Outcome, StageError, StageRunner, _leave_unacked, dead_letter

NO_WAIT = Backoff(initial_seconds=0.0, max_seconds=0.0)


class FakeProducer:
    """Records acknowledged sends; ``fail(topic, value)`` returns an exception to raise at
    enqueue (``("enqueue", exc)``), in the acknowledgement (``("ack", exc)``) or None."""

    def __init__(self, fail=lambda topic, value: None):
        self.fail = fail
        self.acked: list[tuple[str, bytes | None, bytes]] = []
        self.attempts = 0

    async def send(self, topic, key, value):
        self.attempts += 1
        failure = self.fail(topic, value)
        if failure and failure[0] == "enqueue":
            raise failure[1]
        future = asyncio.get_running_loop().create_future()
        if failure and failure[0] == "ack":
            future.set_exception(failure[1])
        else:
            self.acked.append((topic, key, value))
            future.set_result(SimpleNamespace(topic=topic))
        return future


def messages(*values: bytes) -> list[InMessage]:
    return [InMessage(topic="in", partition=0, offset=i, key=b"k%d" % i, value=v) for i, v in enumerate(values)]


def echo(values):
    """A stage whose output is its input, and which refuses b"bad"."""
    return [Outcome(error=StageError("schema", "bad input")) if v == b"bad" else Outcome(outputs=[(v, v)])
            for v in values]


def runner(producer, handle=echo, settings=None, sink="out"):
    return StageRunner(stage="normalize", handle=handle, sink=sink, deadletter="dlq", send=producer.send,
                       settings=settings or Settings(), backoff=NO_WAIT)


def dead(producer) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(v) for t, _, v in producer.acked if t == "dlq"]


def test_outputs_and_dead_letters_are_all_acknowledged():
    producer = FakeProducer()
    report = asyncio.run(runner(producer).run_batch(messages(b"a", b"bad", b"c")))
    assert [(t, v) for t, _, v in producer.acked if t == "out"] == [("out", b"a"), ("out", b"c")]
    (dl,) = dead(producer)
    assert (dl.stage, dl.error_type, dl.payload, dl.offset, dl.key) == ("normalize", "schema", "bad", 1, "k1")
    assert report.delivered == 2 and len(report.dead_lettered) == 1


def test_an_output_too_large_dead_letters_its_message_whole_and_the_others_go_on():
    too_large = ProducerSendError("Error while sending")
    too_large.__cause__ = MessageSizeTooLargeError("The message is 2000000 bytes when serialized")
    producer = FakeProducer(lambda topic, value: ("enqueue", too_large) if topic == "out" and value == b"big" else None)
    asyncio.run(runner(producer).run_batch(messages(b"a", b"big", b"c")))
    assert [v for t, _, v in producer.acked if t == "out"] == [b"a", b"c"]
    (dl,) = dead(producer)
    assert dl.error_type == "output_too_large" and dl.payload == "big" and dl.offset == 1
    assert "MessageSizeTooLargeError" in dl.error_message


def test_a_broker_refusal_in_the_acknowledgement_dead_letters_too():
    producer = FakeProducer(lambda topic, value: ("ack", MessageSizeTooLargeError("too large for the topic"))
                            if topic == "out" and value == b"big" else None)
    asyncio.run(runner(producer).run_batch(messages(b"big", b"ok")))
    assert [v for t, _, v in producer.acked if t == "out"] == [b"ok"]
    assert [d.error_type for d in dead(producer)] == ["output_too_large"]


def test_a_transient_send_error_is_retried_before_it_costs_the_message():
    calls = {"n": 0}

    def flaky(topic, value):
        if topic == "out":
            calls["n"] += 1
            if calls["n"] <= 2:
                return "ack", KafkaTimeoutError("no broker")
        return None

    producer = FakeProducer(flaky)
    asyncio.run(runner(producer).run_batch(messages(b"a")))
    assert [v for t, _, v in producer.acked if t == "out"] == [b"a"] and dead(producer) == []


def test_a_send_that_keeps_timing_out_becomes_a_dead_letter():
    producer = FakeProducer(lambda topic, value: ("ack", KafkaTimeoutError("no broker")) if topic == "out" else None)
    asyncio.run(runner(producer).run_batch(messages(b"a")))
    (dl,) = dead(producer)
    assert dl.error_type == "output_not_delivered" and "KafkaTimeoutError" in dl.error_message


def test_the_dead_letter_send_is_retried_until_the_broker_takes_it():
    calls = {"n": 0}

    def dlq_down(topic, value):
        if topic == "dlq":
            calls["n"] += 1
            if calls["n"] <= 5:
                return "enqueue", KafkaTimeoutError("broker down")
        return None

    producer = FakeProducer(dlq_down)
    asyncio.run(runner(producer).run_batch(messages(b"bad")))
    assert calls["n"] == 6 and [d.error_type for d in dead(producer)] == ["schema"]


def test_a_handler_crash_isolates_the_poison_message():
    def handle(values):
        if b"poison" in values:
            raise ValueError("cannot parse")
        return echo(values)

    producer = FakeProducer()
    asyncio.run(runner(producer, handle).run_batch(messages(b"a", b"poison", b"c")))
    assert [v for t, _, v in producer.acked if t == "out"] == [b"a", b"c"]
    (dl,) = dead(producer)
    assert dl.error_type == "ValueError" and "cannot parse" in dl.error_message and dl.payload == "poison"


def test_a_message_over_its_time_budget_is_dead_lettered_as_timeout():
    def handle(values):
        if b"slow" in values:
            time.sleep(3)
        return echo(values)

    settings = Settings(handler_timeout_seconds=0.5, handler_min_bytes_per_second=10**9)
    producer = FakeProducer()
    asyncio.run(runner(producer, handle, settings).run_batch(messages(b"a", b"slow", b"c")))
    assert [v for t, _, v in producer.acked if t == "out"] == [b"a", b"c"]
    (dl,) = dead(producer)
    assert dl.error_type == "timeout" and dl.payload == "slow"


def test_the_time_budget_grows_with_the_message():
    from shared.streaming import time_budget_seconds

    settings = Settings()
    assert time_budget_seconds([b"x" * 1_000_000], settings) >= time_budget_seconds([b"x"], settings) + 99


def test_a_cancelled_batch_is_left_unacknowledged_for_faust():
    """take_events acks in a finally clause; _leave_unacked makes that a no-op."""
    from faust.types.tuples import ConsumerMessage as Message

    msgs = [Message(topic="in", partition=0, offset=i, timestamp=0.0, timestamp_type=0, headers=None,
                    key=None, value=b"", checksum=None) for i in range(2)]
    acked = []
    consumer = SimpleNamespace(ack=lambda m: acked.append(m.offset) or True)
    _leave_unacked([SimpleNamespace(message=m) for m in msgs])
    for m in msgs:
        m.ack(consumer)  # what the stream's ack does on its way out
    assert acked == []


def test_a_stopping_worker_cancels_the_batch_before_anything_is_acknowledged():
    async def handle(values):
        await asyncio.sleep(60)  # e.g. Elasticsearch is down and the index keeps retrying
        return echo(values)

    producer = FakeProducer()

    async def main():
        task = asyncio.create_task(runner(producer, handle, sink=None).run_batch(messages(b"a")))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert producer.acked == []


def test_a_stopping_worker_does_not_wait_for_a_batch_that_retries_forever(tmp_path):
    """Faust's stream_wait_empty would make SIGTERM (and every rebalance) wait until the batch
    in progress is acknowledged: forever while Elasticsearch is down. The apps turn it off."""
    from shared.streaming import make_app

    app = make_app("index", Settings(home=tmp_path))
    assert app.conf.stream_wait_empty is False


def test_a_payload_that_json_escaping_would_blow_up_is_carried_as_base64():
    payload = b"\x00" * 1000
    record = dead_letter("ingest", StageError("schema", "x"), payload=payload, key=None)
    assert record.payload_encoding == "base64" and base64.b64decode(record.payload) == payload
    assert len(record.model_dump_json()) < 2 * len(payload) + 500


def test_a_key_that_is_not_utf8_is_carried_as_base64_and_replayed_as_it_was():
    from hadath.replay import decode_key

    record = dead_letter("ingest", StageError("schema", "x"), payload=b'{"a": 1}', key=b"\xff\x00k")
    assert record.key_encoding == "base64" and decode_key(record) == b"\xff\x00k"
    plain = dead_letter("ingest", StageError("schema", "x"), payload=b"{}", key=b"abc123")
    assert plain.key_encoding == "utf-8" and decode_key(plain) == b"abc123"


def test_a_stopping_worker_acknowledges_nothing_more():
    """After an interrupted batch, records Faust drains on its way out are never committed."""
    from faust.types.tuples import ConsumerMessage as Message

    from shared.streaming import _stop_acknowledging

    recorded = []
    consumer = SimpleNamespace(ack=lambda m: recorded.append(m.offset) or True)
    done = Message(topic="in", partition=0, offset=0, timestamp=0.0, timestamp_type=0, headers=None,
                   key=None, value=b"", checksum=None)
    done.ack(consumer)
    _stop_acknowledging(consumer)
    drained = Message(topic="in", partition=0, offset=1, timestamp=0.0, timestamp_type=0, headers=None,
                      key=None, value=b"", checksum=None)
    drained.ack(consumer)
    assert recorded == [0]

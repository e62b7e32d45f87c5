"""The index stage against a fault-injecting Elasticsearch client (after elasticsearch-py's own
failing-client tests): overload and outages are retried until they pass, only a document
Elasticsearch refuses as invalid is dead-lettered, and a re-fed article changes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from elastic_transport import (ApiResponseMeta, BaseAsyncNode, ConnectionError as TransportConnectionError,
                               HttpHeaders, NodeConfig)
from elastic_transport._node import NodeApiResponse
from elasticsearch import AsyncElasticsearch

from services.index.app import Indexer
from services.index.indexing import build_batch, item_verdict, mark_duplicates
from shared.es import KEYWORD_MAX_CHARS, mappings
from shared.neardup import signature
from shared.retry import Backoff
from shared.schemas import EnrichedArticle
from shared.settings import Settings

NODE = NodeConfig("http", "127.0.0.1", 9200)
BODY = "وصل وزير النقل إلى البصرة يوم الخميس لافتتاح ميناء جديد قرب بغداد وسط حضور رسمي واسع. " * 3


def article(n: int, body: str = BODY, **extra) -> bytes:
    return EnrichedArticle(article_id=f"a{n}", body=body + f" {n}", ingested_at=datetime(2026, 1, 1, 0, n, tzinfo=UTC),
                           content_hash="h", normalized_body=body, signature=signature(body + f" {n}"),
                           **extra).model_dump_json().encode()


class FaultyES:
    """A real ``AsyncElasticsearch`` whose only node is a fault-injecting one (the pattern of
    elasticsearch-py's own failing-node tests): ``faults`` is consumed one per bulk request,
    each an exception to raise (connection refused) or an HTTP status for the whole request,
    or ``{_id: status}`` of items to fail, or None; searches find the documents indexed so far."""

    def __init__(self, faults=(), refuse=lambda ids: False):
        self.faults = list(faults)
        self.refuse = refuse
        self.indexed: dict[str, dict] = {}
        self.bulk_calls = 0
        fake = self

        class Node(BaseAsyncNode):
            async def perform_request(self, method, target, body=None, headers=None, request_timeout=None):
                return fake.answer(method, target, body)

            async def close(self):
                pass

        self.client = AsyncElasticsearch("http://127.0.0.1:9200", node_class=Node, max_retries=0)

    def answer(self, method: str, target: str, body: bytes | None) -> NodeApiResponse:
        if "_search" in target:
            keys = set(json.loads(body)["query"]["terms"]["dedup_keys"])
            hits = [{"_source": d} for d in self.indexed.values() if keys & set(d.get("dedup_keys", []))]
            return self.reply(200, {"hits": {"hits": hits}})
        self.bulk_calls += 1
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        ids = [h["index"]["_id"] for h in lines[::2]]
        fault = self.faults.pop(0) if self.faults else None
        if isinstance(fault, BaseException):
            raise fault
        if isinstance(fault, int):
            return self.reply(fault, {"error": {"type": "overloaded", "reason": "whole request"}, "status": fault})
        if self.refuse(ids):
            return self.reply(400, {"error": {"type": "parse_exception", "reason": "bad request"}, "status": 400})
        items = []
        for _id, source in zip(ids, lines[1::2]):
            status = (fault or {}).get(_id, 201)
            if status < 300:
                self.indexed[_id] = source
                items.append({"index": {"_id": _id, "status": status}})
            else:
                kind = "mapper_parsing_exception" if status == 400 else "es_rejected_execution_exception"
                items.append({"index": {"_id": _id, "status": status, "error": {"type": kind, "reason": "refused"}}})
        return self.reply(200, {"errors": any(i["index"]["status"] >= 300 for i in items), "items": items})

    @staticmethod
    def reply(status: int, body: dict) -> NodeApiResponse:
        headers = HttpHeaders({"content-type": "application/json", "x-elastic-product": "Elasticsearch"})
        meta = ApiResponseMeta(status=status, http_version="1.1", headers=headers, duration=0.0, node=NODE)
        return NodeApiResponse(meta, json.dumps(body).encode())


def indexer(es: FaultyES) -> tuple[Indexer, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return Indexer(Settings(index_alias="t"), es=es.client, setup=lambda: None,
                   backoff=Backoff(initial_seconds=1, max_seconds=30), sleep=sleep), waits


def test_per_item_429_is_retried_for_as_long_as_it_lasts():
    es = FaultyES([{"a1": 429}] * 8)
    ix, waits = indexer(es)
    outcomes = asyncio.run(ix.handle([article(0), article(1)]))
    assert all(o.error is None for o in outcomes) and set(es.indexed) == {"a0", "a1"}
    assert es.bulk_calls == 9 and waits == [1, 2, 4, 8, 16, 30, 30, 30]  # capped exponential


def test_whole_request_503_and_connection_refused_are_retried_never_dead_lettered():
    refused = TransportConnectionError("connection refused")
    es = FaultyES([503, refused, 429, 401, refused])
    ix, waits = indexer(es)
    outcomes = asyncio.run(ix.handle([article(0)]))
    assert outcomes[0].error is None and "a0" in es.indexed and len(waits) == 5


def test_a_mapping_error_dead_letters_only_that_document():
    es = FaultyES([{"a1": 400}])
    ix, _ = indexer(es)
    ok, bad, ok2 = asyncio.run(ix.handle([article(0), article(1), article(2)]))
    assert ok.error is None and ok2.error is None
    assert bad.error.error_type == "index_rejected" and "mapper_parsing_exception" in str(bad.error)
    assert set(es.indexed) == {"a0", "a2"}


def test_a_whole_request_400_is_split_until_the_bad_document_is_found():
    es = FaultyES(refuse=lambda ids: "a1" in ids)
    ix, _ = indexer(es)
    outcomes = asyncio.run(ix.handle([article(0), article(1), article(2), article(3)]))
    assert [o.error is None for o in outcomes] == [True, False, True, True]
    assert set(es.indexed) == {"a0", "a2", "a3"}


def test_a_message_that_is_not_an_enriched_article_is_dead_lettered_by_schema():
    ix, _ = indexer(FaultyES())
    (outcome,) = asyncio.run(ix.handle([b'{"article_id": 3}']))
    assert outcome.error.error_type == "schema"


def test_verdicts():
    assert [item_verdict(s) for s in (200, 201, 429, 500, 503, 400, 404, 409)] == [
        "indexed", "indexed", "retry", "retry", "retry", "dead_letter", "dead_letter", "dead_letter"]


def test_every_keyword_field_leaves_immense_values_out_instead_of_failing_the_document():
    def keywords(props):
        for name, spec in props.items():
            if "properties" in spec:
                yield from keywords(spec["properties"])
            elif spec.get("type") == "keyword" and spec.get("index", True):
                yield name, spec

    found = list(keywords(mappings()["properties"]))
    assert found and all(spec.get("ignore_above") == KEYWORD_MAX_CHARS for _, spec in found)
    assert KEYWORD_MAX_CHARS * 4 <= 32_766


def test_re_feeding_an_article_keeps_its_first_ingested_at_and_no_self_duplicate():
    first = build_batch([article(0)], "t")
    mark_duplicates(first.actions, [])
    stored = first.actions[0]["_source"] | {"article_id": "a0"}
    again = EnrichedArticle.model_validate_json(article(0)).model_copy(
        update={"ingested_at": datetime(2026, 6, 1, tzinfo=UTC)}).model_dump_json().encode()
    batch = build_batch([again], "t")
    mark_duplicates(batch.actions, [stored])
    src = batch.actions[0]["_source"]
    assert src["ingested_at"] == stored["ingested_at"] and src["duplicate_of"] is None


def test_the_same_body_from_another_outlet_is_linked_by_duplicate_of():
    es = FaultyES()
    ix, _ = indexer(es)
    one = EnrichedArticle.model_validate_json(article(0)).model_copy(update={"source": "a"})
    other = one.model_copy(update={"article_id": "b0", "source": "b",
                                   "ingested_at": datetime(2026, 1, 2, tzinfo=UTC)})
    asyncio.run(ix.handle([one.model_dump_json().encode()]))
    asyncio.run(ix.handle([other.model_dump_json().encode()]))
    assert set(es.indexed) == {"a0", "b0"} and es.indexed["b0"]["duplicate_of"] == "a0"

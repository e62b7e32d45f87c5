"""index: ``articles.enriched`` → Elasticsearch (alias ``hadath-events``), ``_id`` = ``article_id``.

Bulk writes with the official client's ``async_bulk`` helper. A document Elasticsearch rejects
(mapping error, 4xx) goes to ``articles.deadletter`` with the reason; an unreachable or
overloaded cluster (connection errors, 429, 5xx) is retried with backoff until it answers, so
the batch's offsets are not committed and nothing is lost. Replays overwrite the same ``_id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import faust
from elasticsearch import AsyncElasticsearch, ConnectionError as ESConnectionError, TransportError
from elasticsearch.helpers import async_bulk
from pydantic import ValidationError

from shared.es import document, ensure_index, seen_key
from shared.neardup import BatchDeduper
from shared.schemas import EnrichedArticle
from shared.settings import Settings
from shared.streaming import Outcome, StageError, add_stage_agent, make_app
from shared.topics import Topics

log = logging.getLogger("hadath.index")

RETRY_MAX_SECONDS = 30.0


class Indexer:
    """Writes batches of enriched articles with one bulk request each."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: AsyncElasticsearch | None = None

    async def _ready(self) -> AsyncElasticsearch:
        if self._client is None:
            from shared.es import client as sync_client

            # Template and alias are set up once, synchronously, before the first write.
            ensure_index(sync_client(self.settings), self.settings)
            self._client = AsyncElasticsearch(self.settings.es_url, request_timeout=60)
        return self._client

    async def _mark_duplicates(self, actions: list[dict]) -> None:
        """Set ``duplicate_of`` on each action's document: the first-seen near-duplicate
        already indexed or earlier in this batch (:class:`shared.neardup.BatchDeduper`)."""
        keys = sorted({k for a in actions for k in a["_source"]["dedup_keys"]})
        delay = 1.0
        while True:
            try:
                es = await self._ready()
                found = await _candidates(es, self.settings.index_alias, keys) if keys else []
                break
            except (ESConnectionError, OSError) as exc:
                log.warning("Elasticsearch unavailable (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        deduper = BatchDeduper(
            [(c["article_id"], c["signature"], seen_key(c["ingested_at"], c["article_id"]))
             for c in found if c.get("signature")],
            {c["article_id"]: c.get("duplicate_of") for c in found})
        docs = [(a["_id"], a["_source"]["signature"], seen_key(a["_source"]["ingested_at"], a["_id"]))
                for a in actions if a["_source"].get("signature")]
        for action in actions:
            action["_source"]["duplicate_of"] = None
        assigned = deduper.assign(docs)
        for action in actions:
            action["_source"]["duplicate_of"] = assigned.get(action["_id"])

    async def handle(self, values: Sequence[bytes]) -> list[Outcome]:
        """Batch handler: validate, bulk-index, one :class:`Outcome` per message."""
        outcomes: list[Outcome] = [Outcome() for _ in values]
        actions, positions = [], {}
        for i, value in enumerate(values):
            try:
                article = EnrichedArticle.model_validate_json(value)
            except ValidationError as exc:
                outcomes[i] = Outcome(error=StageError("schema", f"not an EnrichedArticle: {exc}"))
                continue
            positions.setdefault(article.article_id, []).append(i)
            actions.append({"_op_type": "index", "_index": self.settings.index_alias,
                            "_id": article.article_id, "_source": document(article)})
        if not actions:
            return outcomes
        await self._mark_duplicates(actions)
        delay = 1.0
        while True:
            try:
                es = await self._ready()
                _, errors = await async_bulk(es, actions, raise_on_error=False, raise_on_exception=True,
                                             max_retries=3, initial_backoff=1, chunk_size=len(actions))
                break
            except (ESConnectionError, TransportError, OSError) as exc:
                status = getattr(exc, "status_code", None) or getattr(getattr(exc, "meta", None), "status", None)
                if isinstance(status, int) and 400 <= status < 500 and status != 429:
                    raise
                log.warning("Elasticsearch unavailable (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        for item in errors:
            info = next(iter(item.values()))
            reason = info.get("error", info)
            for i in positions.get(info.get("_id"), []):
                outcomes[i] = Outcome(error=StageError("index_rejected", f"Elasticsearch refused the document: {reason}"))
        return outcomes


async def _candidates(es: AsyncElasticsearch, index: str, keys: list[str]) -> list[dict]:
    """Indexed documents sharing any near-duplicate band key with ``keys``."""
    found: list[dict] = []
    for i in range(0, len(keys), 30_000):  # stay under index.max_terms_count (65,536)
        resp = await es.search(index=index, size=10_000, query={"terms": {"dedup_keys": keys[i:i + 30_000]}},
                               source=["article_id", "signature", "ingested_at", "duplicate_of"])
        found.extend(h["_source"] for h in resp["hits"]["hits"])
    return found


def create_app(settings: Settings | None = None) -> faust.App:
    """The index Faust app (consumer group ``<group_prefix>-index``)."""
    settings = settings or Settings()
    topics = Topics.from_settings(settings)
    app = make_app("index", settings)
    indexer = Indexer(settings)
    add_stage_agent(app, stage="index", settings=settings, source=topics.enriched, sink=None,
                    handle=indexer.handle, batch_size=settings.index_batch_size,
                    batch_seconds=settings.index_batch_seconds)
    return app

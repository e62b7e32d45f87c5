"""index: ``articles.clustered`` → Elasticsearch (alias ``HADATH_INDEX_ALIAS``), ``_id`` = ``article_id``.

Bulk writes with the official client's ``async_bulk`` helper. What each Elasticsearch answer
means is decided in :mod:`services.index.indexing`; this module does the I/O with the one retry
policy of :mod:`shared.retry`: an unreachable or overloaded cluster (connection errors,
timeouts, 429, 5xx, per item or for the whole request) is retried with capped exponential
backoff for as long as it lasts, so the batch's offsets are not committed and nothing is lost;
only a document Elasticsearch refuses as invalid (4xx other than 429) goes to
``articles.deadletter`` with the reason. Replays overwrite the same ``_id``.

The index template and alias are set up at start-up (and again before the first write if
Elasticsearch was not there yet), in a worker thread, never on the event loop.

Alerts: after a batch is written, its new articles are matched against the saved alerts
(:mod:`services.index.alerting`); each match is an output of the stage, a
:class:`shared.schemas.AlertMatch` on ``articles.alerts`` (keyed by ``article_id``), delivered
by the stage loop like any stage's output (acknowledged before the batch's offsets are
committed), kept in the matches index the page reads (``_id`` from the alert and the article,
so a replay adds nothing), and POSTed to the alert's webhook in the background. A replayed article is matched
again (at least once). A failure of the matching itself is logged and counted, never a dead
letter: the articles are indexed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk

from services.index.indexing import (build_batch, dedup_keys, error_reason, is_transient_es_error,
                                     item_verdict, mark_duplicates, must_split, status_of)
from services.index.alerting import AlertMatcher, WebhookNotifier, alert_record
from shared.es import client as sync_client, client_kwargs, ensure_index
from shared.metrics import StageMetrics, stage_metrics
from shared.retry import DEFAULT_BACKOFF, Backoff, retry_forever
from shared.settings import Settings
from shared.streaming import Outcome, StageError, add_stage_agent, make_app
from shared.topics import Topics

log = logging.getLogger("hadath.index")

#: Largest bulk request body, in bytes (Elasticsearch's ``http.max_content_length`` is 100 MB).
MAX_BULK_BYTES = 50 * 1024 * 1024
#: Client timeout of one Elasticsearch request, in seconds (a timeout is retried).
REQUEST_TIMEOUT_SECONDS = 120


class Indexer:
    """Writes batches of enriched articles into Elasticsearch.

    Args:
        settings: where and which alias.
        es: the async client (default: one for ``HADATH_ES_URL``); tests pass a fault-injecting one.
        setup: creates the template, index and alias, synchronously (default
            :func:`shared.es.ensure_index`); it runs in a thread and is retried until it works.
        backoff / sleep: the retry waits (tests pass a sleep that does not wait).
        stage: the ``stage`` label of its metrics (the events stage writes through one too).
        alerts: whether :meth:`handle` matches written articles against the saved alerts.
        metrics: where retries, rejections and written documents are counted.
    """

    def __init__(self, settings: Settings, *, es: AsyncElasticsearch | None = None,
                 setup: Callable[[], Any] | None = None, backoff: Backoff = DEFAULT_BACKOFF,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, stage: str = "index",
                 alerts: bool = False, metrics: StageMetrics | None = None) -> None:
        self.settings = settings
        self.stage = stage
        self.metrics = metrics or stage_metrics()
        self.alerts = AlertMatcher(settings, retry=self.retry, es=lambda: self.es) if alerts else None
        self.webhooks = WebhookNotifier(attempts=settings.alerts_webhook_attempts, metrics=self.metrics)
        self._es = es
        self._setup = setup or (lambda: ensure_index(sync_client(settings), settings))
        self._is_set_up = False
        self._set_up_lock: asyncio.Lock | None = None
        self.backoff = backoff
        self._sleep = sleep

    @property
    def es(self) -> AsyncElasticsearch:
        """The async client (created on first use, inside the running event loop)."""
        if self._es is None:
            # the transport retries nothing itself: shared.retry is the one retry policy
            self._es = AsyncElasticsearch(**client_kwargs(self.settings, request_timeout=REQUEST_TIMEOUT_SECONDS,
                                                          max_retries=0, retry_on_timeout=False))
        return self._es

    async def retry(self, operation: Callable[[], Awaitable[Any]], what: str) -> Any:
        """Await ``operation()`` until it succeeds, retrying the cluster's transient failures
        (:func:`~services.index.indexing.is_transient_es_error`) with the one backoff policy;
        any other error is raised. Each retry counts in ``hadath_es_retries_total`` (label
        ``operation``: ``what`` up to `` of ``)."""
        operation_label = what.split(" of ")[0]

        def transient(exc: BaseException) -> bool:
            if is_transient_es_error(exc):
                self.metrics.es_retries.labels(self.stage, operation_label).inc()
                return True
            return False

        return await retry_forever(operation, is_transient=transient, what=what,
                                   backoff=self.backoff, sleep=self._sleep)

    async def ready(self) -> None:
        """Set up the index template, index and alias once (retried until Elasticsearch answers)."""
        if self._is_set_up:
            return
        self._set_up_lock = self._set_up_lock or asyncio.Lock()
        async with self._set_up_lock:
            if not self._is_set_up:
                await self.retry(lambda: asyncio.to_thread(self._setup), "index set-up")
                self._is_set_up = True

    async def _candidates(self, keys: list[str]) -> list[dict]:
        """Indexed documents sharing any near-duplicate band key with ``keys``."""
        found: list[dict] = []
        for i in range(0, len(keys), 30_000):  # stay under index.max_terms_count (65,536)
            resp = await self.es.search(index=self.settings.index_alias, size=10_000,
                                        query={"terms": {"dedup_keys": keys[i:i + 30_000]}},
                                        source=["article_id", "signature", "ingested_at", "duplicate_of"])
            found.extend(h["_source"] for h in resp["hits"]["hits"])
        return found

    async def _bulk(self, actions: list[dict]) -> list[dict]:
        """One bulk write (split by :data:`MAX_BULK_BYTES`); returns the failed items."""
        _, errors = await async_bulk(self.es, actions, raise_on_error=False, raise_on_exception=True,
                                     max_retries=0, chunk_size=len(actions), max_chunk_bytes=MAX_BULK_BYTES)
        return errors  # type: ignore[return-value]

    async def write(self, actions: list[dict]) -> dict[str, str]:
        """Index ``actions`` until each one is indexed or refused; returns ``{_id: reason}`` of
        the refused ones. Transient failures (see :mod:`services.index.indexing`) are retried
        forever; a whole request refused as malformed or too large is split in halves."""
        rejected: dict[str, str] = {}
        pending, attempt = actions, 0
        while pending:
            batch = pending
            try:
                failed = await self.retry(lambda: self._bulk(batch), f"bulk write of {len(batch)} documents")
            except Exception as exc:  # noqa: BLE001 - only a split-worthy refusal gets here
                if not must_split(exc):
                    raise
                if len(batch) == 1:
                    rejected[batch[0]["_id"]] = f"HTTP {status_of(exc)}: {exc}"
                    self.metrics.es_rejections.labels(self.stage).inc()
                    return rejected
                half = len(batch) // 2
                rejected |= await self.write(batch[:half])
                rejected |= await self.write(batch[half:])
                return rejected
            by_id = {a["_id"]: a for a in batch}
            pending = []
            for item in failed:
                info = next(iter(item.values()))
                verdict = item_verdict(int(info.get("status", 500)))
                if verdict == "retry":
                    pending.append(by_id[info["_id"]])
                elif verdict == "dead_letter":
                    rejected[info["_id"]] = error_reason(info)
                    self.metrics.es_rejections.labels(self.stage).inc()
            if pending:
                self.metrics.es_retries.labels(self.stage, "bulk item").inc(len(pending))
                delay = self.backoff.delay_seconds(attempt)
                log.warning("Elasticsearch asked to retry %d of %d documents (overloaded); retry %d in %.0f s",
                            len(pending), len(batch), attempt + 1, delay)
                attempt += 1
                await self._sleep(delay)
        return rejected

    async def handle(self, values: Sequence[bytes]) -> list[Outcome]:
        """Batch handler: validate, mark near-duplicates, bulk-index (and apply event
        reassignments); one :class:`Outcome` per message."""
        await self.ready()
        batch = build_batch(values, self.settings.index_alias)
        outcomes = [Outcome() for _ in values]
        for i, reason in batch.invalid.items():
            outcomes[i] = Outcome(error=StageError("schema", reason))
        if not batch.actions:
            return outcomes
        keys = dedup_keys(batch.actions)
        found = await self.retry(lambda: self._candidates(keys), "near-duplicate look-up") if keys else []
        mark_duplicates([a for a in batch.actions if a["_op_type"] == "index"], found)
        rejected = await self.write(batch.actions)
        for article_id, reason in rejected.items():
            for i in batch.positions[article_id]:
                outcomes[i] = Outcome(error=StageError("index_rejected", f"Elasticsearch refused the document: {reason}"))
        self.metrics.count_out(self.stage, len(batch.actions) - len(rejected))
        if self.alerts is not None:
            written = [a for a in batch.actions if a["_op_type"] == "index" and a["_id"] not in rejected]
            await self._alert(written, batch.positions, outcomes)
        return outcomes

    async def _alert(self, written: list[dict], positions: dict[str, list[int]], outcomes: list[Outcome]) -> None:
        """Add an :class:`~shared.schemas.AlertMatch` output per match of ``written`` (to the
        last message of its article) and queue the webhooks; a failure is logged only."""
        documents = [a["_source"] for a in written]
        try:
            matches = await self.alerts.match(documents)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - the articles are indexed: never a dead letter
            log.error("alert matching of %d articles failed: %s: %s", len(documents), type(exc).__name__, exc)
            self.metrics.es_retries.labels(self.stage, "alert matching failed").inc()
            return
        records = [(alert_record(name, documents[slot]), webhook) for slot, name, webhook in matches]
        try:
            await self.alerts.keep([r for r, _ in records])  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - the matches still go to articles.alerts
            log.error("keeping %d alert matches failed: %s: %s", len(records), type(exc).__name__, exc)
            self.metrics.es_retries.labels(self.stage, "keeping alert matches failed").inc()
        for record, webhook in records:
            i = positions[record.article_id][-1]
            outcomes[i].outputs.append((record.article_id.encode(), record.model_dump_json().encode()))
            self.metrics.alerts_matched.labels(record.alert).inc()
            if webhook:
                self.webhooks.submit(webhook, record)


def create_app(settings: Settings | None = None) -> faust.App:
    """The index Faust app (consumer group ``<group_prefix>-index``); the index is set up at start."""
    settings = settings or Settings()
    topics = Topics.from_settings(settings)
    app = make_app("index", settings)
    indexer = Indexer(settings, alerts=True)
    # outputs are alert matches; written documents are counted as messages out by the Indexer
    add_stage_agent(app, stage="index", settings=settings, source=topics.clustered, sink=topics.alerts,
                    handle=indexer.handle, batch_size=settings.index_batch_size,
                    batch_seconds=settings.index_batch_seconds, count_outputs=False)

    @app.task
    async def set_up_index() -> None:  # noqa: ANN202 - Faust task
        await indexer.ready()

    return app

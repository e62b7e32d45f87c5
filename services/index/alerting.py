"""The index stage's alerts: match the articles of a written batch against the saved alerts
(:mod:`shared.alerts`) and POST matches to the alerts' webhooks in the background.

:class:`AlertMatcher` reads the saved alerts (cached :data:`ALERTS_CACHE_SECONDS`; none saved,
nothing else is asked), percolates the batch's documents in one request, or, on a cluster
without the percolator, searches the batch's ids once per alert, and keeps each match in the
matches index the page reads (:meth:`AlertMatcher.keep`). :class:`WebhookNotifier` keeps
a bounded queue drained by background tasks: each POST is retried with the pipeline's backoff
(``HADATH_ALERTS_WEBHOOK_ATTEMPTS`` tries); a full queue drops the POST (counted), so a slow or
dead webhook never holds a batch back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from elasticsearch.helpers import async_bulk

from shared.alerts import (MAX_ALERTS, batch_search_body, ensure_matches_index, has_percolator, match_actions,
                           matches_alias, matches_of, percolate_body)
from shared.metrics import StageMetrics, stage_metrics
from shared.retry import Backoff
from shared.schemas import AlertMatch
from shared.settings import Settings

log = logging.getLogger("hadath.alerts")

#: How long the list of saved alerts is reused before it is read again, seconds (an alert
#: added by ``hadath alerts add`` applies to batches written after that).
ALERTS_CACHE_SECONDS = 2.0
#: Largest number of webhook POSTs waiting; more are dropped (and counted).
WEBHOOK_QUEUE_MAX = 10_000
#: Concurrent webhook POSTs.
WEBHOOK_WORKERS = 4
#: Timeout of one webhook POST, seconds.
WEBHOOK_TIMEOUT_SECONDS = 10.0


class AlertMatcher:
    """Finds the alerts each document of a batch matches.

    Args:
        settings: ``alerts_alias`` and ``index_alias``.
        retry: the index stage's ``retry(operation, what)`` (transient Elasticsearch failures
            retried with its backoff).
        es: returns the async client.
        setup: creates the matches index, synchronously (default
            :func:`shared.alerts.ensure_matches_index` with a client of ``settings``); run once
            in a thread before the first :meth:`keep`.
    """

    def __init__(self, settings: Settings, *, retry, es, setup=None) -> None:  # noqa: ANN001 - callables
        self.settings = settings
        self._retry = retry
        self._es = es
        self._setup = setup or (lambda: ensure_matches_index(_sync_client(settings), settings))
        self._matches_ready = False
        self._loaded_at = -1e9
        self._alerts: list[dict[str, Any]] = []
        self._percolator = False

    async def _load(self) -> None:
        if time.monotonic() - self._loaded_at < ALERTS_CACHE_SECONDS:
            return
        es, alias = self._es(), self.settings.alerts_alias

        async def load() -> tuple[list[dict], bool]:
            if not await es.indices.exists_alias(name=alias):
                return [], False
            mapping = (await es.indices.get_mapping(index=alias)).body
            resp = await es.search(index=alias, size=MAX_ALERTS, query={"match_all": {}},
                                   source=["alert.name", "alert.webhook", "query"])
            return [h["_source"] for h in resp["hits"]["hits"]], has_percolator(mapping)

        self._alerts, self._percolator = await self._retry(load, "alerts look-up")
        self._loaded_at = time.monotonic()

    async def match(self, documents: list[dict[str, Any]]) -> list[tuple[int, str, str | None]]:
        """``(position in documents, alert name, webhook)`` for every match, by position.

        ``documents`` are article documents as indexed (``_source`` with ``article_id``);
        they must be written already (the fallback searches them). Raises what the
        Elasticsearch client raises for a non-transient failure.
        """
        if not documents:
            return []
        await self._load()
        if not self._alerts:
            return []
        es = self._es()
        if self._percolator:
            resp = await self._retry(lambda: es.search(index=self.settings.alerts_alias,
                                                       **percolate_body(documents)), "alert percolation")
            return matches_of(resp)
        ids = [d["article_id"] for d in documents]
        position = {article_id: i for i, article_id in enumerate(ids)}
        await self._retry(lambda: es.indices.refresh(index=self.settings.index_alias), "refresh for alerts")
        searches: list[dict] = []
        for alert in self._alerts:
            searches += [{"index": self.settings.index_alias}, batch_search_body(alert["query"], ids)]
        resp = await self._retry(lambda: es.msearch(searches=searches), "alert searches")
        out = []
        for alert, answer in zip(self._alerts, resp["responses"]):
            if "error" in answer:
                log.error("alert %s: search failed: %s", alert["alert"]["name"], answer["error"])
                continue
            for hit in answer["hits"]["hits"]:
                if hit["_id"] in position:
                    out.append((position[hit["_id"]], alert["alert"]["name"], alert["alert"].get("webhook")))
        return sorted(out, key=lambda m: (m[0], m[1]))

    async def keep(self, records: list[AlertMatch]) -> int:
        """Write ``records`` to the matches index (``create`` by :func:`shared.alerts.match_id`;
        one kept already, as after a replay, stays as it was); returns how many were new.
        Transient failures are retried; raises ``RuntimeError`` naming the first item
        Elasticsearch refused otherwise."""
        if not records:
            return 0
        if not self._matches_ready:
            await self._retry(lambda: asyncio.to_thread(self._setup), "matches index set-up")
            self._matches_ready = True
        actions = match_actions([r.model_dump(mode="json") for r in records], matches_alias(self.settings))

        async def write() -> list[dict]:
            _, errors = await async_bulk(self._es(), actions, raise_on_error=False, raise_on_exception=True,
                                         max_retries=0, chunk_size=len(actions))
            return errors  # type: ignore[return-value]

        errors = await self._retry(write, "write of alert matches")
        refused = [next(iter(e.values())) for e in errors]
        refused = [info for info in refused if info.get("status") != 409]
        if refused:
            raise RuntimeError(f"Elasticsearch refused {len(refused)} alert matches: {refused[0].get('error')}")
        return len(records) - len(errors)


def _sync_client(settings: Settings):  # noqa: ANN202 - elasticsearch client
    from shared.es import client

    return client(settings)


def alert_record(alert: str, document: dict[str, Any], *, now: datetime | None = None) -> AlertMatch:
    """The :class:`AlertMatch` of ``alert`` for an article document."""
    return AlertMatch(alert=alert, article_id=document["article_id"], event_id=document.get("event_id"),
                      title=document.get("title"), source=document.get("source"),
                      matched_at=now or datetime.now(UTC))


class WebhookNotifier:
    """POSTs alert matches to webhooks from background tasks, never blocking the caller.

    Args:
        attempts: tries of one POST (connection errors, timeouts, 429 and 5xx are retried;
            another 4xx is given up at once).
        backoff / sleep: waits between tries.
        post: ``await post(url, body_bytes) -> HTTP status`` (default: aiohttp); tests pass a fake.
        metrics: ``hadath_webhook_deliveries_total{result}``.
    """

    def __init__(self, *, attempts: int = 5, backoff: Backoff = Backoff(1.0, 30.0),
                 sleep=asyncio.sleep, post=None, metrics: StageMetrics | None = None) -> None:  # noqa: ANN001
        self.attempts = attempts
        self.backoff = backoff
        self._sleep = sleep
        self._post = post or _aiohttp_post
        self.metrics = metrics or stage_metrics()
        self._queue: asyncio.Queue | None = None
        self._workers: list[asyncio.Task] = []

    def submit(self, url: str, match: AlertMatch) -> bool:
        """Queue one POST of ``match``'s JSON to ``url``; False (and counted ``dropped``) when
        the queue is full. Call from the event loop."""
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=WEBHOOK_QUEUE_MAX)
            self._workers = [asyncio.get_running_loop().create_task(self._work()) for _ in range(WEBHOOK_WORKERS)]
        try:
            self._queue.put_nowait((url, match.model_dump_json().encode()))
            return True
        except asyncio.QueueFull:
            self.metrics.webhooks.labels("dropped").inc()
            log.warning("webhook queue full: dropped the POST of %s to %s", match.article_id, url)
            return False

    async def join(self) -> None:
        """Wait until every queued POST was delivered or given up (tests)."""
        if self._queue is not None:
            await self._queue.join()

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            url, body = await self._queue.get()
            try:
                ok = await self.deliver(url, body)
                self.metrics.webhooks.labels("ok" if ok else "failed").inc()
            except Exception:  # noqa: BLE001 - a worker never dies
                log.exception("webhook %s", url)
            finally:
                self._queue.task_done()

    async def deliver(self, url: str, body: bytes) -> bool:
        """POST ``body`` to ``url`` until a 2xx answer (True) or the tries are spent (False)."""
        for attempt in range(self.attempts):
            try:
                status = await self._post(url, body)
                if 200 <= status < 300:
                    return True
                if status != 429 and status < 500:
                    log.warning("webhook %s answered %d: given up", url, status)
                    return False
                reason = f"HTTP {status}"
            except Exception as exc:  # noqa: BLE001 - network errors are retried
                reason = f"{type(exc).__name__}: {exc}"
            if attempt < self.attempts - 1:
                delay = self.backoff.delay_seconds(attempt)
                log.warning("webhook %s failed (%s); retry %d in %.0f s", url, reason, attempt + 1, delay)
                await self._sleep(delay)
        log.error("webhook %s failed %d times: given up", url, self.attempts)
        return False


_SESSION = None


async def _aiohttp_post(url: str, body: bytes) -> int:
    """POST ``body`` as JSON with aiohttp (one session per process); returns the status."""
    import aiohttp

    global _SESSION
    if _SESSION is None or _SESSION.closed:
        _SESSION = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS))
    async with _SESSION.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        return resp.status

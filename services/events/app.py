"""events: ``articles.enriched`` → ``articles.clustered`` (+ event documents, ``articles.deadletter``).

Every enriched article is put in an event (:class:`services.events.cluster.EventClusterer`) and
sent on with its ``event_id`` (:class:`shared.schemas.ClusteredArticle`, key ``article_id``);
the index stage writes it. The events themselves are documents behind ``HADATH_EVENTS_ALIAS``,
written by this stage: they are its state (:class:`services.events.store.ElasticStore`).

One batch:

1. validate (not an ``EnrichedArticle`` → dead letter ``schema``) and compute features;
2. fill the cache from the event index: events already holding these articles, and each
   article's candidate events (one ``msearch``);
3. assign, in ingest order (``ingested_at``, then ``article_id``: the feed's order, whichever
   extract worker finished first; a worker thread: this is the CPU part). An article already in an event
   keeps it. When an article bridges two events and they merge, every article of the merged
   event outside this batch gets an :class:`~shared.schemas.EventReassignment` (same key, so
   it follows the article's own message); so does an earlier page without time evidence that
   moves to the event an article has just joined or opened, because it fits it better, or
   leaves the event an article has just joined for one of its own, because it no longer fits
   it (:meth:`~services.events.cluster.EventClusterer.add_features`);
4. write the changed event documents (bulk, retried for as long as Elasticsearch is down),
   *then* hand the outputs to the stage loop, which acknowledges the batch only once they are
   delivered. A crash between 4 and the acknowledgement replays the batch: its articles are
   found in their events and keep them, nothing is counted twice; the reassignments it owed
   were written in the outbox of their events' documents and are sent again
   (:class:`~services.events.store.ElasticStore`).

One writer: ``articles.enriched`` has one partition (:mod:`shared.topics`), so one events
worker is active and a second one is a hot standby that takes over on a rebalance. At start
(and after a rebalance) the event index is refreshed before the first batch, so the events the
previous owner wrote are all searchable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import faust
from pydantic import ValidationError

from services.events.cluster import EventClusterer, EventParams, event_id_for
from services.events.features import features_of
from services.events.store import ElasticStore
from services.index.app import Indexer
from shared.schemas import ClusteredArticle, EnrichedArticle, EventReassignment
from shared.settings import Settings
from shared.streaming import Outcome, StageError, add_stage_agent, make_app
from shared.topics import Topics

log = logging.getLogger("hadath.events")


def in_ingest_order(items: Sequence[tuple[int, EnrichedArticle, object]]) -> list[tuple[int, EnrichedArticle, object]]:
    """A batch's ``(position, article, features)`` sorted by ``(ingested_at, article_id)``: the
    feed's order. Two extract workers deliver articles in the order they finish; assigning in
    the order the feed gave them (as one worker, or a replay, would) keeps a story's first
    articles first."""
    return sorted(items, key=lambda g: (g[1].ingested_at, g[1].article_id))


class EventsStage:
    """The events stage's batch handler and its state (see the module docstring).

    Args:
        settings: Elasticsearch, the event alias.
        indexer: the Elasticsearch writer (default: an :class:`~services.index.app.Indexer`,
            which also sets up both indices); tests pass one with a fault-injecting client.
        params: the clusterer's parameters.
    """

    def __init__(self, settings: Settings, *, indexer: Indexer | None = None,
                 params: EventParams | None = None) -> None:
        self.settings = settings
        self.indexer = indexer or Indexer(settings, stage="events")
        self.store = ElasticStore(settings.events_alias)
        self.clusterer = EventClusterer(self.store, params)
        self._refreshed = False

    async def _search_many(self, searches: list[dict]) -> list[dict]:
        if not searches:
            return []
        resp = await self.indexer.retry(lambda: self.indexer.es.msearch(searches=searches),
                                        "event candidate search")
        hits = []
        for r in resp["responses"]:
            if "error" in r:
                raise RuntimeError(f"event candidate search failed: {r['error']}")
            hits.extend(r["hits"]["hits"])
        return hits

    async def _ensure_refreshed(self) -> None:
        if not self._refreshed:
            await self.indexer.retry(lambda: self.indexer.es.indices.refresh(index=self.settings.events_alias),
                                     "event index refresh")
            self._refreshed = True

    def reset(self) -> None:
        """Forget the cache (after a rebalance another worker may have written events)."""
        self.store = ElasticStore(self.settings.events_alias)
        self.clusterer = EventClusterer(self.store, self.clusterer.params)
        self._refreshed = False

    def _assign(self, good: list[tuple[int, EnrichedArticle, object]]) -> tuple[dict[int, str], dict[str, str]]:
        """Assign each article in order; ``({position: event_id}, {article_id: event_id} of
        the reassigned articles outside the batch})``, ids resolved through merges."""
        # reassigned article -> (its new event, the event it left, the event of the article that moved it)
        reassigned: dict[str, tuple[str, str, str]] = {}
        in_batch = {a.article_id for _, a, _ in good}
        for i, article, f in good:
            known = self.store.assignment(article.article_id) is not None
            result = self.clusterer.add_features(f)
            if not known:
                self.store.summary(result.event_id).add(article, f)
            for loser_id in result.merged:
                loser = self.store.get(loser_id)
                self.store.summary(result.event_id).merge(self.store.summary(loser_id))
                self.store.merged_from.setdefault(result.event_id, set()).update(
                    {loser_id, *self.store.merged_from.pop(loser_id, set())})
                for a in loser.article_ids if loser else ():
                    if a not in in_batch:
                        reassigned[a] = (result.event_id, loser_id, result.event_id)
            for a, src in result.moved:  # an earlier page without time evidence found its event
                self.store.move_record(a, src, result.event_id)
                left = self.store.get(src)
                if left is not None and left.merged_into:  # it was alone: its event is merged away
                    self.store.merged_from.setdefault(result.event_id, set()).update(
                        {src, *self.store.merged_from.pop(src, set())})
                if a not in in_batch:
                    reassigned[a] = (result.event_id, src, result.event_id)
            for a, dst in result.evicted:  # a page without time evidence no longer fits: its own event
                self.store.move_record(a, result.event_id, dst)
                if a not in in_batch:
                    reassigned[a] = (dst, result.event_id, result.event_id)
        # where each article is now (a page of this batch may have moved after it was assigned)
        final = {i: self.store.resolve(self.store.assignment(a.article_id) or "") for i, a, _ in good}
        moved = {a: (self.store.resolve(self.store.assignment(a) or e), src) for a, (e, src, _) in reassigned.items()}
        # owed in the document of the event holding the article that caused each (read back
        # by a replay of this batch, which finds its articles there and owes nothing itself)
        owed: dict[str, dict[str, str]] = {}
        for a, (_, src, cause) in reassigned.items():
            owed.setdefault(self.store.resolve(cause), {})[a] = src
        for event_id, moves in sorted(owed.items()):
            self.store.record_outbox(event_id, moves)
        # owed by a batch that may have died before it delivered them
        for a, src in sorted(self.store.undelivered().items()):
            if a not in in_batch and a not in moved and self.store.assignment(a) is not None:
                moved[a] = (self.store.resolve(self.store.assignment(a)), src)
        return final, moved  # type: ignore[return-value]

    async def handle(self, values: Sequence[bytes]) -> list[Outcome]:
        """Batch handler: one :class:`Outcome` per message (see the module docstring).

        If anything interrupts the batch after the cache changed (cancelled, Elasticsearch
        refused an event document), the cache is dropped, so the retry (the stage loop retries
        one message at a time, or the next owner reads the batch again) starts from what the
        event index holds.
        """
        try:
            return await self._handle(values)
        except BaseException:
            self.reset()
            raise

    async def _handle(self, values: Sequence[bytes]) -> list[Outcome]:
        await self.indexer.ready()
        await self._ensure_refreshed()
        self.store.clear_delivered()  # the last batch's outputs were delivered before this call
        outcomes = [Outcome() for _ in values]
        articles: list[tuple[int, EnrichedArticle]] = []
        for i, value in enumerate(values):
            try:
                articles.append((i, EnrichedArticle.model_validate_json(value)))
            except ValidationError as exc:
                outcomes[i] = Outcome(error=StageError("schema", f"not an EnrichedArticle: {exc}"))
        if not articles:
            return outcomes
        if not self.settings.events_assign:  # pass-through: one event per article, no state
            for i, article in articles:
                out = ClusteredArticle.model_construct(**dict(article), event_id=event_id_for(article.article_id))
                outcomes[i] = Outcome(outputs=[(article.article_id.encode(), out.model_dump_json().encode())])
            return outcomes
        feats = await asyncio.to_thread(lambda: [features_of(a) for _, a in articles])
        good = [(i, a, f) for (i, a), f in zip(articles, feats)]
        searches = self.store.lookup_queries([a.article_id for _, a, _ in good],
                                             [self.clusterer.query_for(f) for _, _, f in good])
        hits = await self._search_many(searches)
        # assignment look-ups come whole; candidate searches give ids: fetch the uncached ones
        self.store.load_hits([h for h in hits if "_source" in h and "state" in h["_source"]])
        ids = self.store.missing(hits)
        if ids:
            resp = await self.indexer.retry(lambda: self.indexer.es.mget(index=self.settings.events_alias, ids=ids),
                                            "event fetch")
            self.store.load_hits([d for d in resp["docs"] if d.get("found")])
        final, moved = await asyncio.to_thread(self._assign, in_ingest_order(good))
        actions = self.store.dirty_documents(updated_at=datetime.now(UTC))
        if actions:
            rejected = await self.indexer.write(actions)
            if rejected:  # an event document is ours, not the message's: a bug, say it loudly
                raise RuntimeError(f"Elasticsearch refused event documents: {rejected}")
        self.store.evict()
        last_of: dict[str, int] = {}
        for i, article, _ in good:
            last_of[article.article_id] = i
        for i, article, _ in good:  # validated on the way in: not again (as extract)
            out = ClusteredArticle.model_construct(**dict(article), event_id=final[i])
            outputs = [(article.article_id.encode(), out.model_dump_json().encode())]
            outcomes[i] = Outcome(outputs=outputs)
        # reassignments of earlier articles ride with the batch's last message (delivered, or
        # dead-lettered, together with it)
        if moved:
            tail = good[-1][0]
            for a, (event_id, src) in sorted(moved.items()):
                msg = EventReassignment(article_id=a, event_id=event_id, merged_from=src)
                outcomes[tail].outputs.append((a.encode(), msg.model_dump_json().encode()))
        return outcomes


def create_app(settings: Settings | None = None) -> faust.App:
    """The events Faust app (consumer group ``<group_prefix>-events``)."""
    settings = settings or Settings()
    topics = Topics.from_settings(settings)
    app = make_app("events", settings)
    stage = EventsStage(settings)
    add_stage_agent(app, stage="events", settings=settings, source=topics.enriched, sink=topics.clustered,
                    handle=stage.handle, batch_size=64, batch_seconds=0.1)

    @app.on_partitions_revoked.connect
    async def on_revoked(app, revoked, **kwargs) -> None:  # noqa: ANN001, ANN003 - Faust signal
        if revoked:
            stage.reset()

    @app.task
    async def set_up() -> None:  # noqa: ANN202 - Faust task
        await stage.indexer.ready()

    return app

"""Where event states live: the event documents in Elasticsearch, with a write-through cache.

:class:`ElasticStore` is a :class:`~services.events.cluster.MemoryStore` (the cache, with its
inverted indexes) that is filled from the event index before each batch and whose changed
events are written back after it (:meth:`ElasticStore.dirty_documents`). It is correct because
the events stage has one writer (``articles.enriched`` has one partition): every event this
process did not write itself is in the index, and is loaded the first time a batch may need it:

* :meth:`ElasticStore.lookup_queries` — for a batch, one search for the events already holding
  any of its articles (a redelivered article keeps its event) and one candidate search per
  article (events sharing a name feature or one of its heaviest word buckets, not merged, within
  the time window: the same :class:`~services.events.cluster.CandidateQuery` the cache answers),
  and one for the events at any time that hold pages without time evidence (``provisional_count``
  > 0: the clusterer's second look);
* :meth:`ElasticStore.missing` / :meth:`ElasticStore.load_hits` — the candidate searches return
  ids only; those not cached are fetched whole (``mget``) and put into the cache (an event
  already cached is newer there and kept). Candidate searches skip the events written since
  this store started (``updated_at``), which are all cached until the first eviction.

Reassignments survive a crash through an *outbox* kept in the event documents
(:meth:`ElasticStore.record_outbox`): the :class:`~shared.schemas.EventReassignment` messages a
batch owes (an earlier article merged, moved or evicted into another event) are written, with
the event documents, into the document of the event that holds the article that caused them,
before they are delivered. A replay of that batch finds its articles in their events and would
owe nothing; it finds the outbox instead (:meth:`ElasticStore.undelivered`) and sends it again.
An outbox is cleared by the batch after the one that delivered it
(:meth:`ElasticStore.clear_delivered`); one sent twice updates an article document to the event
it is already in.

The cache keeps at most ``max_cached`` events; the least recently used ones that are written
back are dropped first (they are read again from the index when needed).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from services.events.cluster import PROVISIONAL_CANDIDATES, CandidateQuery, EventState, MemoryStore
from services.events.docs import EventSummary, event_document

__all__ = ["ElasticStore", "CANDIDATES_PER_ARTICLE"]

#: Most candidate events one article's search brings (the best-matching by shared features).
CANDIDATES_PER_ARTICLE = 200


class ElasticStore(MemoryStore):
    """The events stage's :class:`~services.events.cluster.EventStore` (see the module docstring).

    Args:
        index: the event alias searched and written (``HADATH_EVENTS_ALIAS``).
        max_cached: most events kept in memory.
    """

    def __init__(self, index: str, *, max_cached: int = 50_000, index_terms: int = 12,
                 started_at: datetime | None = None) -> None:
        super().__init__(index_terms=index_terms)
        self.index = index
        #: events written at or after this were written by this store, so they are cached
        #: (or were evicted: see :meth:`evict`)
        self.started_at = started_at or datetime.now(UTC)
        self._evicted = False
        self.max_cached = max_cached
        self.summaries: dict[str, EventSummary] = {}
        self.merged_from: dict[str, set[str]] = {}
        self._dirty: set[str] = set()
        self._used: OrderedDict[str, None] = OrderedDict()
        #: event id -> {article id: event it left} of the reassignments a batch owes
        self.outbox: dict[str, dict[str, str]] = {}
        self._outbox_loaded: set[str] = set()  # read from the index: maybe never delivered
        self._outbox_sent: set[str] = set()  # written (or sent again) by the last batch

    # --- the EventStore protocol over the cache ---------------------------------------------

    def candidates(self, query: CandidateQuery) -> list[EventState]:
        out = super().candidates(query)  # index entries of evicted events are skipped there
        for e in out:
            self._touch(e.event_id)
        return out

    def provisional_candidates(self, query: CandidateQuery) -> list[EventState]:
        out = super().provisional_candidates(query)
        for e in out:
            self._touch(e.event_id)
        return out

    def save(self, state: EventState) -> None:
        super().save(state)
        self._dirty.add(state.event_id)
        self._touch(state.event_id)

    def summary(self, event_id: str) -> EventSummary:
        """The display summary of an event (an empty one for a new event)."""
        return self.summaries.setdefault(event_id, EventSummary())

    def move_record(self, article_id: str, src: str, dst: str) -> None:
        """Move a provisional member's display record from ``src``'s summary to ``dst``'s
        (nothing happens if ``src`` does not keep it)."""
        rec = self.summary(src).remove(article_id)
        if rec is not None:
            self.summary(dst).add_record(rec, provisional=True)

    # --- the outbox of reassignments (see the module docstring) ------------------------------

    def record_outbox(self, event_id: str, moves: Mapping[str, str]) -> None:
        """Owe the reassignments ``moves`` (``{article_id: event it left}``) in ``event_id``'s
        document: written with this batch's documents, cleared by the next batch's
        :meth:`clear_delivered`."""
        if moves and event_id in self.events:
            self.outbox.setdefault(event_id, {}).update(moves)
            self._outbox_sent.add(event_id)
            self._dirty.add(event_id)

    def undelivered(self) -> dict[str, str]:
        """The reassignments owed by outboxes read from the index since the last call
        (``{article_id: event it left}``): a batch that wrote them may have died before it
        delivered them. They count as sent by the calling batch (cleared after the next)."""
        owed: dict[str, str] = {}
        for event_id in sorted(self._outbox_loaded):
            owed.update(self.outbox.get(event_id, {}))
            self._outbox_sent.add(event_id)
        self._outbox_loaded.clear()
        return owed

    def clear_delivered(self) -> int:
        """Empty the outboxes the previous batch wrote or sent again: the stage loop delivered
        its outputs before it called for the next batch. Returns how many were emptied (their
        documents are written with this batch)."""
        cleared = 0
        for event_id in self._outbox_sent:
            if self.outbox.pop(event_id, None) is not None and event_id in self.events:
                self._dirty.add(event_id)
                cleared += 1
        self._outbox_sent.clear()
        return cleared

    def _touch(self, event_id: str) -> None:
        self._used[event_id] = None
        self._used.move_to_end(event_id)

    # --- filling the cache from Elasticsearch ------------------------------------------------

    def lookup_queries(self, article_ids: Sequence[str], queries: Sequence[CandidateQuery]) -> list[dict[str, Any]]:
        """``msearch`` bodies (header, body pairs flattened) for one batch: the events that hold
        any of ``article_ids`` not known to the cache, then one candidate search per query."""
        searches: list[dict[str, Any]] = []
        unknown = sorted({a for a in article_ids if self.assignment(a) is None})
        if unknown:
            searches += [{"index": self.index},
                         {"size": len(unknown) + 10, "query": {"terms": {"article_ids": unknown}}}]
        # what this store wrote itself is in its cache (until its first eviction)
        mine = [] if self._evicted else [{"range": {"updated_at": {"lt": self.started_at.isoformat()}}}]
        for q in queries:
            should: list[dict[str, Any]] = []
            if q.names:
                should.append({"terms": {"cand_names": list(q.names)}})
            if q.terms:
                should.append({"terms": {"cand_terms": list(q.terms)}})
            if not should:
                continue
            lo, hi = q.interval_days
            filters: list[dict[str, Any]] = []
            if hi != float("inf"):
                filters.append({"range": {"interval_lo_days": {"lte": hi + q.window_days}}})
            if lo != float("-inf"):
                filters.append({"range": {"interval_hi_days": {"gte": lo - q.window_days}}})
            filters += mine
            searches += [{"index": self.index},
                         {"size": CANDIDATES_PER_ARTICLE, "_source": False,
                          "query": {"bool": {"should": should, "minimum_should_match": 1, "filter": filters,
                                             "must_not": [{"exists": {"field": "merged_into"}}]}}}]
            # the second look's: events at any time holding pages without time evidence
            searches += [{"index": self.index},
                         {"size": PROVISIONAL_CANDIDATES, "_source": False,
                          "query": {"bool": {"should": should, "minimum_should_match": 1,
                                             "filter": [{"range": {"provisional_count": {"gt": 0}}}, *mine],
                                             "must_not": [{"exists": {"field": "merged_into"}}]}}}]
        return searches

    def missing(self, hits: Iterable[Mapping[str, Any]]) -> list[str]:
        """Ids of ``hits`` not in the cache (to fetch whole with ``mget``), sorted."""
        return sorted({h["_id"] for h in hits if h["_id"] not in self.events})

    def load_hits(self, hits: Iterable[Mapping[str, Any]]) -> int:
        """Put the events of search ``hits`` (``_source.state``) into the cache, unless cached;
        returns how many were new to it."""
        added = 0
        for hit in hits:
            event_id = hit["_id"]
            if event_id in self.events:
                continue
            state_doc = hit["_source"].get("state") or {}
            if "cluster" not in state_doc:
                continue
            state = EventState.from_dict(state_doc["cluster"])
            MemoryStore.save(self, state)
            self.summaries[event_id] = EventSummary.from_dict(state_doc.get("summary", {}))
            if state_doc.get("outbox"):
                self.outbox[event_id] = dict(state_doc["outbox"])
                self._outbox_loaded.add(event_id)
            for a in state.article_ids:
                self.articles.setdefault(a, event_id)
            self._touch(event_id)
            added += 1
        return added

    def dirty_documents(self, *, updated_at: datetime | None = None) -> list[dict[str, Any]]:
        """Bulk ``index`` actions for every event changed since the last call (clears the set)."""
        actions = []
        for event_id in sorted(self._dirty):
            state = self.events[event_id]
            source = event_document(state, self.summary(event_id), updated_at=updated_at,
                                    merged_from=sorted(self.merged_from.get(event_id, ())))
            if self.outbox.get(event_id):
                source["state"]["outbox"] = dict(sorted(self.outbox[event_id].items()))
            actions.append({"_op_type": "index", "_index": self.index, "_id": event_id, "_source": source})
        self._dirty.clear()
        return actions

    def evict(self) -> int:
        """Drop least recently used, written-back events beyond ``max_cached``; returns how many."""
        dropped = 0
        while len(self.events) > self.max_cached and self._used:
            event_id, _ = self._used.popitem(last=False)
            if event_id in self._dirty or event_id not in self.events:
                continue
            state = self.events.pop(event_id)
            self.summaries.pop(event_id, None)
            self.outbox.pop(event_id, None)  # kept in its document: sent again if it is read back
            for a in state.article_ids:
                if self.articles.get(a) == event_id:
                    del self.articles[a]
            dropped += 1
        if dropped:
            self._evicted = True  # from now on the index may hold events this store wrote and dropped
        return dropped

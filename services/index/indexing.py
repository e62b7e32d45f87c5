"""Pure logic of the index stage (no Kafka, no I/O): bulk actions, near-duplicate links, and
what each Elasticsearch answer means for a message.

How an Elasticsearch failure is classified (:func:`item_verdict`, :func:`is_transient_es_error`):

==============================================  ===========================================
answer                                          verdict
==============================================  ===========================================
per item 2xx                                    indexed
per item 429 (rejected execution), 5xx          *retry*: the cluster is overloaded; the item
                                                is sent again after a backoff, forever
per item other 4xx (mapping error, bad value)   *dead letter*: the document itself is invalid
whole request: connection refused, timeout,     *retry*, forever: the cluster is down, busy
401/403 (credentials), 404 (index not yet       or misconfigured; no document is at fault
created), 408, 429, 5xx
whole request: 400 or 413                       *split*: the batch is sent in halves; a single
                                                document refused so becomes a dead letter
==============================================  ===========================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from elastic_transport import ConnectionError as TransportConnectionError, ConnectionTimeout
from elasticsearch import ApiError
from pydantic import ValidationError

from shared.es import document, seen_key
from shared.neardup import BatchDeduper
from shared.schemas import ClusteredArticle, EnrichedArticle, EventReassignment

#: Whole-request HTTP statuses that say the batch itself is malformed or too large: split it.
SPLIT_STATUSES = frozenset({400, 413})

Verdict = Literal["indexed", "retry", "dead_letter"]


@dataclass
class Batch:
    """One batch of enriched messages as bulk actions.

    Attributes:
        actions: one ``index`` action per valid message (``_id`` = ``article_id``); a message
            repeated in the batch gives one action (the last one read).
        positions: ``article_id`` → the batch positions (0-based) of its messages.
        invalid: batch position → why the message is not an ``EnrichedArticle``.
    """

    actions: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, list[int]] = field(default_factory=dict)
    invalid: dict[int, str] = field(default_factory=dict)


def build_batch(values: Sequence[bytes], index: str) -> Batch:
    """Validate ``values`` and build their bulk actions.

    A value is a :class:`~shared.schemas.ClusteredArticle` (an ``EnrichedArticle`` without
    ``event_id`` is taken too: a dead letter of an older version replayed) → an ``index``
    action; or an :class:`~shared.schemas.EventReassignment` → an ``update`` of the article's
    ``event_id`` (folded into the article's own action when both are in the batch; a
    reassignment of an article not indexed is refused by Elasticsearch with 404 and becomes a
    dead letter, to replay once the article is).
    """
    batch = Batch()
    by_id: dict[str, dict[str, Any]] = {}
    for i, value in enumerate(values):
        try:
            raw = json.loads(value)
            if isinstance(raw, dict) and raw.get("kind") == "reassign":
                move = EventReassignment.model_validate(raw)
                batch.positions.setdefault(move.article_id, []).append(i)
                prior = by_id.get(move.article_id)
                if prior is not None and prior["_op_type"] == "index":
                    prior["_source"]["event_id"] = move.event_id
                else:
                    by_id[move.article_id] = {"_op_type": "update", "_index": index, "_id": move.article_id,
                                              "doc": {"event_id": move.event_id}}
                continue
            model = ClusteredArticle if isinstance(raw, dict) and "event_id" in raw else EnrichedArticle
            article = model.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            batch.invalid[i] = f"not a ClusteredArticle or EventReassignment: {exc}"
            continue
        batch.positions.setdefault(article.article_id, []).append(i)
        by_id.pop(article.article_id, None)  # keep the batch's order: the last message wins
        by_id[article.article_id] = {"_op_type": "index", "_index": index, "_id": article.article_id,
                                     "_source": document(article)}
    batch.actions = list(by_id.values())
    return batch


def dedup_keys(actions: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every near-duplicate band key of ``actions``' documents, sorted and unique."""
    return sorted({k for a in actions if "_source" in a for k in a["_source"]["dedup_keys"]})


def mark_duplicates(actions: list[dict[str, Any]], found: Iterable[Mapping[str, Any]]) -> None:
    """Set ``duplicate_of`` (and keep a re-indexed article's first ``ingested_at``) in place.

    ``found``: ``_source`` of indexed documents sharing a band key with the batch (fields
    ``article_id``, ``signature``, ``ingested_at``, ``duplicate_of``). An article already in the
    index keeps the ``ingested_at`` it was first indexed with, so feeding it again changes
    nothing (it neither becomes a duplicate of its own copies nor orphans them); a document's
    original is the first-seen near-duplicate, in the index or earlier in this batch
    (:class:`shared.neardup.BatchDeduper`).
    """
    found = [c for c in found if c.get("signature")]
    first_seen = {c["article_id"]: c["ingested_at"] for c in found}
    for action in actions:
        if action["_id"] in first_seen:
            action["_source"]["ingested_at"] = first_seen[action["_id"]]
    deduper = BatchDeduper(
        [(c["article_id"], c["signature"], seen_key(c["ingested_at"], c["article_id"])) for c in found],
        {c["article_id"]: c.get("duplicate_of") for c in found})
    docs = [(a["_id"], a["_source"]["signature"], seen_key(a["_source"]["ingested_at"], a["_id"]))
            for a in actions if a["_source"].get("signature")]
    assigned = deduper.assign(docs)
    for action in actions:
        action["_source"]["duplicate_of"] = assigned.get(action["_id"])


def item_verdict(status: int) -> Verdict:
    """What a bulk item's HTTP ``status`` means (see the module docstring)."""
    if 200 <= status < 300:
        return "indexed"
    if status == 429 or status >= 500:
        return "retry"
    return "dead_letter"


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an Elasticsearch client error, or ``None`` (no answer at all)."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    meta = getattr(exc, "meta", None)
    status = getattr(meta, "status", None)
    return status if isinstance(status, int) else None


def is_transient_es_error(exc: BaseException) -> bool:
    """Whether a whole-request failure is the cluster's and will pass (retry forever)."""
    if isinstance(exc, (TransportConnectionError, ConnectionTimeout, OSError)):
        return True
    if isinstance(exc, ApiError):
        return status_of(exc) not in SPLIT_STATUSES
    return False


def must_split(exc: BaseException) -> bool:
    """Whether a whole-request failure says the batch itself is malformed or too large."""
    return isinstance(exc, ApiError) and status_of(exc) in SPLIT_STATUSES


def error_reason(info: Mapping[str, Any]) -> str:
    """A person's reading of a bulk item's error (``type: reason`` and its cause)."""
    error = info.get("error", info)
    if not isinstance(error, Mapping):
        return str(error)
    text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    if isinstance(cause, Mapping):
        text += f" (caused by {cause.get('type', '')}: {cause.get('reason', '')})"
    return text

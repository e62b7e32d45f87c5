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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from elastic_transport import ConnectionError as TransportConnectionError, ConnectionTimeout
from elasticsearch import ApiError
from pydantic import ValidationError

from shared.es import document, seen_key
from shared.neardup import BatchDeduper
from shared.schemas import EnrichedArticle

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
    """Validate ``values`` (``EnrichedArticle`` JSON bytes) and build their bulk actions."""
    batch = Batch()
    by_id: dict[str, dict[str, Any]] = {}
    for i, value in enumerate(values):
        try:
            article = EnrichedArticle.model_validate_json(value)
        except ValidationError as exc:
            batch.invalid[i] = f"not an EnrichedArticle: {exc}"
            continue
        batch.positions.setdefault(article.article_id, []).append(i)
        by_id[article.article_id] = {"_op_type": "index", "_index": index, "_id": article.article_id,
                                     "_source": document(article)}
    batch.actions = list(by_id.values())
    return batch


def dedup_keys(actions: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every near-duplicate band key of ``actions``' documents, sorted and unique."""
    return sorted({k for a in actions for k in a["_source"]["dedup_keys"]})


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

"""ingest: the gate. ``articles.raw`` → ``articles.ingested`` (+ ``articles.deadletter``).

Validates each raw message, assigns the stable ``article_id``, strips HTML and splits scraped
pages into stories. Nothing is dropped here for being a repeat: the same article sent twice
has the same ``article_id`` and overwrites itself in the index (``_id`` = ``article_id``),
and the same body from another outlet is another article, linked by ``duplicate_of``.
The logic lives in :mod:`services.ingest.gate`; this module only wires it to Kafka.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import faust

from services.ingest.gate import Rejected, process_raw
from shared import limits
from shared.settings import Settings
from shared.streaming import Outcome, StageError, add_stage_agent, make_app
from shared.topics import Topics

log = logging.getLogger("hadath.ingest")


def make_handler(settings: Settings):
    """The batch handler: raw message bytes → :class:`Outcome` per message (no Kafka).

    A body may have up to :func:`shared.limits.raw_record_bytes` characters (what fits the
    largest raw record ``hadath feed`` sends).
    """
    max_body_chars = limits.raw_record_bytes(settings)

    def handle(values: Sequence[bytes]) -> list[Outcome]:
        outcomes = []
        for value in values:
            try:
                # one timestamp per message: it orders "first seen" for near-duplicates
                stories = process_raw(value, ingested_at=datetime.now(UTC), max_body_chars=max_body_chars)
            except Rejected as exc:
                outcomes.append(Outcome(error=StageError(exc.error_type, str(exc))))
                continue
            outcomes.append(Outcome(outputs=[(s.article_id.encode(), s.model_dump_json().encode())
                                             for s in stories]))
        return outcomes

    return handle


def create_app(settings: Settings | None = None) -> faust.App:
    """The ingest Faust app (consumer group ``<group_prefix>-ingest``)."""
    settings = settings or Settings()
    topics = Topics.from_settings(settings)
    app = make_app("ingest", settings)
    add_stage_agent(app, stage="ingest", settings=settings, source=topics.raw, sink=topics.ingested,
                    handle=make_handler(settings), batch_size=200, batch_seconds=0.05)
    return app

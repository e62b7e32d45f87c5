"""ingest: the gate. ``articles.raw`` → ``articles.ingested`` (+ ``articles.deadletter``).

Validates each raw message, assigns the stable ``article_id``, strips HTML, splits scraped
pages into stories and drops exact duplicates seen recently by this worker (the durable
guarantee against duplicates is the index's ``_id`` = ``article_id``). The logic lives in
:mod:`services.ingest.gate`; this module only wires it to Kafka.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import faust

from services.ingest.gate import RecentHashes, Rejected, process_raw
from shared.settings import Settings
from shared.streaming import Outcome, StageError, add_stage_agent, make_app
from shared.topics import Topics

log = logging.getLogger("hadath.ingest")


def make_handler(settings: Settings, recent: RecentHashes | None = None):
    """The batch handler: raw message bytes → :class:`Outcome` per message (no Kafka)."""
    recent = recent if recent is not None else RecentHashes()

    def handle(values: Sequence[bytes]) -> list[Outcome]:
        outcomes = []
        batch_hashes: set[str] = set()
        for value in values:
            try:
                # one timestamp per message: it orders "first seen" for near-duplicates
                stories = process_raw(value, ingested_at=datetime.now(UTC))
            except Rejected as exc:
                outcomes.append(Outcome(error=StageError(exc.error_type, str(exc))))
                continue
            out, hashes = [], []
            for story in stories:
                if story.content_hash in recent or story.content_hash in batch_hashes:
                    log.info("dropped exact duplicate %s", story.article_id)
                    continue
                batch_hashes.add(story.content_hash)
                hashes.append(story.content_hash)
                out.append((story.article_id.encode(), story.model_dump_json().encode()))
            # remembered only once sent: a batch whose sends fail is read again, not dropped
            outcomes.append(Outcome(outputs=out, on_delivered=lambda hs=hashes: [recent.add(h) for h in hs]))
        return outcomes

    return handle


def create_app(settings: Settings | None = None) -> faust.App:
    """The ingest Faust app (consumer group ``<group_prefix>-ingest``)."""
    settings = settings or Settings()
    topics = Topics.from_settings(settings)
    app = make_app("ingest", settings)
    add_stage_agent(app, stage="ingest", settings=settings, source=topics.raw, sink=topics.ingested,
                    handle=make_handler(settings), batch_size=200, batch_seconds=0.2)
    return app

"""extract: ``articles.normalized`` → ``articles.enriched`` (+ ``articles.deadletter``).

The stage people scale: run N workers (``hadath services up --extract-workers N`` or
``docker compose up --scale extract=N``); they share one consumer group, so Kafka spreads the
partitions between them.
"""

from __future__ import annotations

from collections.abc import Sequence

import faust
from pydantic import ValidationError

from services.extract.extract import Extractor
from shared.schemas import NormalizedArticle
from shared.settings import Settings
from shared.streaming import Outcome, StageError, add_stage_agent, make_app
from shared.topics import Topics


def make_handler(extractor: Extractor):
    """Batch handler: ``NormalizedArticle`` JSON bytes → ``EnrichedArticle`` JSON bytes."""

    def handle(values: Sequence[bytes]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(values)
        good: list[tuple[int, NormalizedArticle]] = []
        for i, value in enumerate(values):
            try:
                good.append((i, NormalizedArticle.model_validate_json(value)))
            except ValidationError as exc:
                outcomes[i] = Outcome(error=StageError("schema", f"not a NormalizedArticle: {exc}"))
        if good:
            enriched = extractor.extract_batch([a for _, a in good])
            for (i, _), result in zip(good, enriched):
                outcomes[i] = Outcome(outputs=[(result.article_id.encode(), result.model_dump_json().encode())])
        return outcomes  # type: ignore[return-value]

    return handle


def create_app(settings: Settings | None = None) -> faust.App:
    """The extract Faust app (consumer group ``<group_prefix>-extract``)."""
    settings = settings or Settings()
    topics = Topics.from_settings(settings)
    app = make_app("extract", settings)
    extractor = Extractor(settings.recognizer, model_dir=str(settings.ner_model_dir) if settings.ner_model_dir else None)
    add_stage_agent(app, stage="extract", settings=settings, source=topics.normalized,
                    sink=topics.enriched, handle=make_handler(extractor), batch_size=32, batch_seconds=0.1)
    return app

"""normalize: ``articles.ingested`` → ``articles.normalized`` (+ ``articles.deadletter``).

The logic is :func:`services.normalize.normalize.normalize_article`; this module wires it.
"""

from __future__ import annotations

from collections.abc import Sequence

import faust
from pydantic import ValidationError

from services.normalize.normalize import normalize_article
from shared.schemas import IngestedArticle
from shared.settings import Settings
from shared.streaming import Outcome, StageError, add_stage_agent, make_app
from shared.topics import Topics


def handle(values: Sequence[bytes]) -> list[Outcome]:
    """Batch handler: ``IngestedArticle`` JSON bytes → ``NormalizedArticle`` JSON bytes."""
    outcomes = []
    for value in values:
        try:
            article = IngestedArticle.model_validate_json(value)
        except ValidationError as exc:
            outcomes.append(Outcome(error=StageError("schema", f"not an IngestedArticle: {exc}")))
            continue
        result = normalize_article(article)
        outcomes.append(Outcome(outputs=[(result.article_id.encode(), result.model_dump_json().encode())]))
    return outcomes


def create_app(settings: Settings | None = None) -> faust.App:
    """The normalize Faust app (consumer group ``<group_prefix>-normalize``)."""
    settings = settings or Settings()
    topics = Topics.from_settings(settings)
    app = make_app("normalize", settings)
    add_stage_agent(app, stage="normalize", settings=settings, source=topics.ingested,
                    sink=topics.normalized, handle=handle, batch_size=100, batch_seconds=0.05)
    return app

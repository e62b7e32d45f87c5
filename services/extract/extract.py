"""Pure logic of the extract stage: a normalized story → entities, linked places and dates.

Entities come from the configured recognizer (``HADATH_RECOGNIZER``), completed by the place
gazetteer's LOC matches where the recognizer found nothing; LOC entities are linked to
GeoNames places (:mod:`services.extract.places`); date expressions are resolved against
``published_at`` (:mod:`services.extract.dates`).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.extract.dates import find_dates
from services.extract.places import GazetteerRecognizer, link_places
from services.extract.recognize import Recognizer, get_recognizer, merge_entities
from shared.schemas import EnrichedArticle, NormalizedArticle


class Extractor:
    """Runs recognition, place linking and date resolution over batches of stories."""

    def __init__(self, recognizer: Recognizer | str = "crf", *, model_dir: str | None = None) -> None:
        self.gazetteer = GazetteerRecognizer()
        if isinstance(recognizer, str):
            recognizer = self.gazetteer if recognizer == "gazetteer" else get_recognizer(recognizer, model_dir=model_dir)
        self.recognizer = recognizer

    def extract_batch(self, articles: Sequence[NormalizedArticle]) -> list[EnrichedArticle]:
        """One :class:`EnrichedArticle` per input, in order; offsets index each ``body``."""
        texts = [a.body for a in articles]
        found = self.recognizer.recognize_batch(texts)
        places_found = found if self.recognizer is self.gazetteer else self.gazetteer.recognize_batch(texts)
        out = []
        for article, entities, gaz in zip(articles, found, places_found):
            if self.recognizer is not self.gazetteer:
                entities = merge_entities(entities, gaz)
            out.append(EnrichedArticle(
                **article.model_dump(),
                entities=entities,
                places=link_places(article.body, entities),
                dates=find_dates(article.body, article.published_at),
                recognizer=self.recognizer.name,
            ))
        return out

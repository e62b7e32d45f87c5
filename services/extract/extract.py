"""Pure logic of the extract stage: a normalized story → entities, linked places and dates.

Entities come from the configured recognizer (``HADATH_RECOGNIZER``), completed by the place
gazetteer's LOC matches where the recognizer found nothing; LOC entities are linked to
GeoNames places (:mod:`services.extract.places`); date expressions are resolved against
``published_at`` (:mod:`shared.dates`); the topic comes from the shipped topic
classifier (:mod:`services.events.topic`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from services.events.topic import TopicClassifier, article_text
from shared.dates import find_dates
from services.extract.ner import gazetteers as gaz_mod
from services.extract.ner.features import normalize as ner_normalize
from services.extract.places import GazetteerRecognizer, get_gazetteer, link_places
from services.extract.recognize import Recognizer, get_recognizer, merge_entities
from shared.arabic import entity_key, normalize
from shared.schemas import EnrichedArticle, Entity, NormalizedArticle


@lru_cache(maxsize=1)
def known_names() -> Callable[[str], bool]:
    """``key -> bool``: is this normalized name in a gazetteer (places, or the NER name lists
    shipped in ``ner/model/gazetteers.tsv``)? Used to strip proclitics from entity keys."""
    names = {normalize(name, collapse_whitespace=True) for _, _, name in gaz_mod.read_rows()}
    places = get_gazetteer()
    return lambda key: key in names or key in places


@lru_cache(maxsize=1)
def person_name_tokens() -> frozenset[str]:
    """Every word of every PERS name in ``ner/model/gazetteers.tsv`` (ANERGazet and NERAr
    person lists, normalised as the NER features normalise them): 17k words."""
    return frozenset(w for label, _, name in gaz_mod.read_rows() if label == "PERS" for w in name.split())


def canonical(entity: Entity, text: str, known: Callable[[str], bool]) -> Entity:
    """``entity`` with its canonical key (proclitics stripped where the rest is a known name)
    and its span trimmed to leave a stripped proclitic (و ف ب ل ك) out: وبغداد → بغداد."""
    key = entity_key(entity.text, known=known)
    start = entity.start
    if normalize(entity.text, collapse_whitespace=True) == key:  # nothing stripped
        return entity.model_copy(update={"normalized": key})
    for k in (1, 2):
        if entity.end - (start + k) < 2:
            break
        if normalize(text[entity.start + k:entity.end], collapse_whitespace=True) == key:
            start = entity.start + k
            break
    return entity.model_copy(update={"normalized": key, "start": start, "text": text[start:entity.end]})


class Extractor:
    """Runs recognition, place linking and date resolution over batches of stories."""

    def __init__(self, recognizer: Recognizer | str = "bilstm", *, model_dir: str | None = None) -> None:
        self.gazetteer = GazetteerRecognizer()
        if isinstance(recognizer, str):
            recognizer = self.gazetteer if recognizer == "gazetteer" else get_recognizer(recognizer, model_dir=model_dir)
        self.recognizer = recognizer
        self.known = known_names()
        self.topics = TopicClassifier.load()

    def _canonical(self, entity: Entity, body: str, own: set[str]) -> Entity:
        itself = normalize(entity.text, collapse_whitespace=True)
        first = ner_normalize(itself.partition(" ")[0])
        names = person_name_tokens()

        def known(key: str) -> bool:
            if (key in own and key != itself) or self.known(key):
                return True
            # a person: وهادي العامري → هادي العامري, the first word being a known name part
            # only without the proclitic (وليد, فراس, بلال are name parts as written: kept)
            return (entity.label == "PERS" and key != itself and first not in names
                    and ner_normalize(key.partition(" ")[0]) in names)

        return canonical(entity, body, known)

    def extract_batch(self, articles: Sequence[NormalizedArticle]) -> list[EnrichedArticle]:
        """One :class:`EnrichedArticle` per input, in order; offsets index each ``body``."""
        texts = [a.body for a in articles]
        found = self.recognizer.recognize_batch(texts)
        topics = self.topics.predict([article_text(a.title, a.body) for a in articles])
        places_found = found if self.recognizer is self.gazetteer else self.gazetteer.recognize_batch(texts)
        out = []
        for article, entities, gaz, topic in zip(articles, found, places_found, topics):
            if self.recognizer is not self.gazetteer:
                entities = merge_entities(entities, gaz)
            # a name is also "known" when the same article names it without the proclitic
            # elsewhere (وهادي العامري → هادي العامري when هادي العامري occurs too)
            own = {normalize(e.text, collapse_whitespace=True) for e in entities}
            entities = [self._canonical(e, article.body, own) for e in entities]
            # the article is validated already and the findings are built from validated
            # models: construct without re-validating (its token spans made validation about a
            # tenth of the stage's time)
            out.append(EnrichedArticle.model_construct(
                **dict(article),
                entities=entities,
                places=link_places(article.body, entities),
                dates=find_dates(article.body, article.published_at),
                topic=topic,
                recognizer=self.recognizer.name,
            ))
        return out

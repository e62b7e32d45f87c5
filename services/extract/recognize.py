"""The recognizer interface of the extract service: text in, entities out.

A recognizer knows nothing of Kafka. ``recognize_batch`` takes story texts and returns, for
each, its entities with character offsets into that text (``text[start:end] == entity.text``).
Recognizers are chosen by ``Settings.recognizer`` through :func:`get_recognizer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from shared.schemas import Entity


@runtime_checkable
class Recognizer(Protocol):
    """Named-entity recognizer: ``recognize_batch(texts) -> [[Entity, ...], ...]`` (same length)."""

    name: str

    def recognize_batch(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Entities of each text, in order of ``start``; offsets are indices into that text."""
        ...


def merge_entities(primary: list[Entity], extra: list[Entity]) -> list[Entity]:
    """``primary`` plus every entity of ``extra`` that overlaps none of them (nor an ``extra``
    entity taken before it), sorted by ``(start, end)``.

    Linear in the text length and the number of entities: a byte per character marks what is
    taken (comparing every pair was quadratic: a long article with thousands of place names
    spent seconds here). Spans that are empty or reversed cannot be marked that way; with one
    of them the pairwise comparison is used.
    """
    merged = list(primary)
    if any(e.end <= e.start for e in (*primary, *extra)):
        taken = [(e.start, e.end) for e in primary]
        for e in extra:
            if all(e.end <= s or e.start >= t for s, t in taken):
                merged.append(e)
                taken.append((e.start, e.end))
        return sorted(merged, key=lambda e: (e.start, e.end))
    used = bytearray(max((e.end for e in (*primary, *extra)), default=0))
    for e in primary:
        used[e.start:e.end] = b"\x01" * (e.end - e.start)
    for e in extra:
        if used.find(1, e.start, e.end) < 0:
            merged.append(e)
            used[e.start:e.end] = b"\x01" * (e.end - e.start)
    return sorted(merged, key=lambda e: (e.start, e.end))


def get_recognizer(name: str, *, model_dir: str | None = None) -> Recognizer:
    """The recognizer called ``name`` (``Settings.recognizer``).

    ``crf``: the shipped offline CRF model (:mod:`services.extract.ner.crf`);
    ``bilstm``: the shipped BiLSTM-CRF, numpy inference (:mod:`services.extract.ner.neural`);
    ``gazetteer``: places only (:mod:`services.extract.places`);
    ``camel``: CAMeL Tools' BERT NER from ``model_dir`` (needs ``pip install '.[bert]'``).

    Raises:
        ValueError: for an unknown name.
    """
    if name == "crf":
        from services.extract.ner.crf import CrfRecognizer

        return CrfRecognizer()
    if name == "bilstm":
        from services.extract.ner.neural import NeuralRecognizer

        return NeuralRecognizer()
    if name == "gazetteer":
        from services.extract.places import GazetteerRecognizer

        return GazetteerRecognizer()
    if name == "camel":
        from services.extract.ner.camel import CamelRecognizer

        return CamelRecognizer(model_dir)
    from shared.settings import env_name

    raise ValueError(f"unknown recognizer {name!r}: choose crf, bilstm, gazetteer or camel ({env_name('recognizer')})")

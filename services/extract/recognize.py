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

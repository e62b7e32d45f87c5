"""BIO tag decoding shared by the recognizers, training and evaluation.

One module with no dependencies, so that a recognizer (the BiLSTM-CRF of
:mod:`services.extract.ner.neural`, the CRF of :mod:`services.extract.ner.crf`) and the
training code decode tags the same way without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["bio_spans"]


def bio_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """``(first, last_exclusive, label)`` token ranges of BIO ``tags`` (conlleval-style: an
    ``I-X`` after ``O`` or another label starts a new entity)."""
    out: list[tuple[int, int, str]] = []
    start, label = -1, None
    for i, t in enumerate((*tags, "O")):
        prefix, _, lab = t.partition("-")
        if label is not None and (prefix in ("B", "O") or lab != label):
            out.append((start, i, label))
            label = None
        if prefix in ("B", "I") and label is None:
            start, label = i, lab
    return out

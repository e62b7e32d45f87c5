"""Readers of the training data: CoNLL "word TAG" files (ANERcorp) and news corpora (JSON Lines).

``DEFAULT_DATA_DIR`` is where the data sets live beside the repository
(``../shared/data/ner``; the news corpora are in ``../shared/data/news``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "ner"


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    """Sentences of a "word TAG" file (blank line between sentences) as (words, tags)."""
    sents: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts:
            if words:
                sents.append((words, tags))
                words, tags = [], []
            continue
        words.append(parts[0] if len(parts) > 1 else parts[0])
        tags.append(parts[-1] if len(parts) > 1 else "O")
    if words:
        sents.append((words, tags))
    return sents


def news_texts(path: Path, limit: int | None = None) -> Iterator[str]:
    """``title + "\\n" + body`` of each article of a JSON Lines file (gzip when ``.gz``), at most
    ``limit`` articles."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if limit is not None and n >= limit:
                return
            doc = json.loads(line)
            yield (doc.get("title") or "") + "\n" + (doc.get("body") or "")

"""Gazetteers of the offline recognizers (BiLSTM-CRF and CRF): the run-time loaders.

``model/gazetteers.tsv`` holds one ``LABEL<TAB>SOURCE<TAB>name`` line per name, every name
normalised (:func:`features.normalize`) and tokenised; it is built from its sources (ANERGazet,
NERAr, Babel/CLDR, GeoNames; see ``model/GAZETTEERS.md`` for licences) by
:mod:`services.extract.ner.training.gazetteers`. A CRF trained with ``--lexicon`` also ships a
training lexicon (``<model stem>-lexicon.tsv``, written by
:mod:`services.extract.ner.training.lexicon`), read by :func:`load_lexicon` and merged into the
table by :func:`merge`.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from services.extract.ner.features import Gazetteer

MODEL_DIR = Path(__file__).resolve().parent / "model"
DEFAULT_GAZETTEER_PATH = MODEL_DIR / "gazetteers.tsv"
DEFAULT_LEXICON_PATH = MODEL_DIR / "anercorp-crf-lexicon.tsv"
DEFAULT_MINED_PATH = MODEL_DIR / "mined-gazetteer.tsv"
MINED_SOURCE = "mn"


@lru_cache(maxsize=4)
def read_rows(path: Path = DEFAULT_GAZETTEER_PATH) -> tuple[tuple[str, str, str], ...]:
    """The ``(LABEL, SOURCE, name)`` rows of a gazetteer file written by
    :func:`services.extract.ner.training.gazetteers.save` (read once
    per path and process; empty when the file is absent)."""
    if not path.exists():
        return ()
    return tuple(tuple(line.split("\t")) for line in path.read_text(encoding="utf-8").splitlines())


def load(path: Path = DEFAULT_GAZETTEER_PATH, parts: bool = False) -> tuple[Gazetteer, int]:
    """Lookup table ``token tuple -> {"LABEL:src", ...}`` and the longest entry (tokens).

    With ``parts``, every word (≥ 3 letters) of a multi-word name is also an entry of its own
    with source ``src~`` ("is part of a known name").
    """
    table: dict[tuple[str, ...], set[str]] = defaultdict(set)
    max_len = 1
    rows = read_rows(path)
    if not rows:
        return {}, max_len
    for label, src, name in rows:
        toks = tuple(name.split(" "))
        table[toks].add(f"{label}:{src}")
        max_len = max(max_len, len(toks))
        if parts and len(toks) > 1:  # words of multi-word names: "LABEL:src~"
            for t in toks:
                if len(t) >= 3:
                    table[(t,)].add(f"{label}:{src}~")
    return {k: frozenset(v) for k, v in table.items()}, max_len


def merge(gaz: Gazetteer, max_len: int, names: set[tuple[str, str]], src: str = "tr"):
    """A new gazetteer table with ``names`` added under source ``src``; returns (table, max_len)."""
    table = dict(gaz)
    for label, name in names:
        toks = tuple(name.split(" "))
        table[toks] = table.get(toks, frozenset()) | {f"{label}:{src}"}
        max_len = max(max_len, len(toks))
    return table, min(max_len, 8)


def load_lexicon(path: Path = DEFAULT_LEXICON_PATH) -> tuple[set[tuple[str, str]], dict]:
    """Inverse of :func:`save_lexicon` (empty when the file is absent)."""
    names: set[tuple[str, str]] = set()
    words: dict[str, tuple[str, ...]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            kind, label, text = line.split("\t")
            if kind == "N":
                names.add((label, text))
            else:
                words[text] = tuple(label.split(","))
    return names, words


def load_mined(path: Path = DEFAULT_MINED_PATH, min_score: float = 0.0) -> set[tuple[str, str]]:
    """``(LABEL, name)`` pairs of a mined gazetteer written by
    :func:`services.extract.ner.training.mining.save` (``LABEL<TAB>name<TAB>score<TAB>freq<TAB>round``
    lines; names of score below ``min_score`` left out). Empty when the file is absent."""
    if not Path(path).exists():
        return set()
    out = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        label, name, score, _freq, _round = line.split("\t")
        if float(score) >= min_score:
            out.add((label, name))
    return out


def with_mined(gaz: Gazetteer, max_len: int, names: set[tuple[str, str]] | None = None):
    """``gaz`` plus the mined names (default: :data:`DEFAULT_MINED_PATH`) under source
    :data:`MINED_SOURCE` (features ``gz<U|B|I|L>:<LABEL>:mn``); returns (table, max_len)."""
    return merge(gaz, max_len, load_mined() if names is None else names, src=MINED_SOURCE)

"""Word clusters and vectors of the offline recognizers (BiLSTM-CRF and CRF), as shipped in
``model/clusters.tsv`` and ``model/vectors.npy``: the run-time loader.

The files are built from a news corpus by :mod:`services.extract.ner.training.clusters`
(k-means over PPMI-SVD word vectors). ``clusters.tsv`` holds
``word<TAB>count<TAB>cluster_k1<TAB>cluster_k2...``; the corpus counts give frequency and
"takes the article" features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DEFAULT_CLUSTER_PATH = Path(__file__).resolve().parent / "model" / "clusters.tsv"
_PREFIX = "abcdefgh"


class WordStats(dict):
    """``word -> ("a12", "b200", "c901")`` cluster ids (coarsest first) plus ``counts``."""

    counts: dict[str, int]
    vectors: dict[str, list[tuple[str, float]]]
    feature_cache: dict[str, list[tuple[str, float]]]  # filled by features.sentence_features


def load_clusters(path: Path = DEFAULT_CLUSTER_PATH, with_vectors: bool = True) -> WordStats:
    """Cluster ids per word (``WordStats``) with corpus counts in ``.counts``."""
    table = WordStats()
    table.counts = {}
    table.vectors = {}
    table.feature_cache = {}
    if not path.exists():
        return table
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        words.append(parts[0])
        table.counts[parts[0]] = int(parts[1])
        table[parts[0]] = tuple(_PREFIX[i] + c for i, c in enumerate(parts[2:]))
    vec_path = path.with_name("vectors.npy")
    if with_vectors and vec_path.exists():
        arr = np.load(vec_path).astype(np.float32) * 4.0  # unit rows -> O(1) feature values
        table.vectors = {w: [(f"v{k}", float(x)) for k, x in enumerate(row) if abs(x) > 0.1]
                         for w, row in zip(words, arr, strict=True)}
    return table

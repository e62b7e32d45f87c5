"""The events stage's cosines (``cluster._cosines`` / ``_unit_cosines``) are scikit-learn's
``cosine_similarity``, bit for bit, on word and name rows like the stage's."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics.pairwise import cosine_similarity

from services.events.cluster import _NAME_HASHER, _cosines, _sparse, _unit, _unit_cosines
from services.events.features import N_FEATURES, word_vector


def _random_rows(rng: np.random.Generator, n: int, nnz: int) -> list[sp.csr_matrix]:
    rows = []
    for _ in range(n):
        k = int(rng.integers(0, nnz))
        idx = rng.choice(2000, k, replace=False)  # narrow: many shared columns
        rows.append(_sparse(dict(zip(idx.tolist(), rng.random(k).tolist(), strict=True))))
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_same_numbers_as_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = _random_rows(rng, 1, 300)[0]
    rows = _random_rows(rng, 40, 300) + [sp.csr_matrix((1, N_FEATURES))]  # an all-zero event
    want = cosine_similarity(a, sp.vstack(rows, format="csr")).ravel()
    assert np.array_equal(_cosines(a, rows), want)
    got = _unit_cosines(_unit(a), sp.vstack([_unit(r) for r in rows], format="csr"))
    assert got.dtype == want.dtype and np.array_equal(got, want)


def test_zero_article_and_real_vectors() -> None:
    docs = ["قال الرئيس في بغداد إن الحكومة ستعقد اجتماعا", "اجتماع الحكومة في بغداد اليوم",
            "مباراة كرة القدم انتهت بالتعادل", ""]
    words = [word_vector(d[:10], d) for d in docs]
    names = [_NAME_HASHER.transform([{"PERS:محمد": 2.0, "LOC:بغداد": 1.5}]).tocsr(),
             _NAME_HASHER.transform([{"LOC:بغداد": 1.0}]).tocsr(), sp.csr_matrix((1, N_FEATURES))]
    for group in (words, names):
        for a in group:
            want = cosine_similarity(a, sp.vstack(group, format="csr")).ravel()
            assert np.array_equal(_cosines(a, group), want)
    assert _cosines(words[0], []).shape == (0,)

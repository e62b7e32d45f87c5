"""The events stage's cosines (``cluster._unit_cosines`` of ``_unit`` rows) are scikit-learn's
``cosine_similarity``, bit for bit, on word and name rows like the stage's."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics.pairwise import cosine_similarity

from services.events.cluster import _NAME_HASHER, _sparse, _unit, _unit_cosines
from services.events.features import N_FEATURES, word_vector


def _cosines(a: sp.csr_matrix, rows: list[sp.csr_matrix]) -> np.ndarray:
    """Raw rows through the stage's cosine, as the stage combines them."""
    if not rows:
        return np.zeros(0)
    return _unit_cosines(_unit(a), sp.vstack([_unit(r) for r in rows], format="csr"))


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


def test_weighted_counts_are_the_vectorizer_sums() -> None:
    """``features.weighted_counts`` (buckets remembered per token) gives the matrix of the sum of
    ``_hasher().transform`` calls, exactly (structure, dtype and values), weights of any kind."""
    from services.events.features import _hasher, weighted_counts

    h = _hasher()
    texts = ["قال الرئيس في بغداد إن الحكومة ستعقد اجتماعا والحكومات", "الحكومة في بغداد 2024 اليوم",
             "", "و ب", "Reuters قال الرئيس الرئيس"]
    for weights in ((1.0, 2.0, 1.0), (1.0, 0.0, 1.0), (0.5, 1.5, 3.0)):
        parts = list(zip(texts[:3], weights, strict=True)) + [(texts[3], 1.0), (texts[4], weights[2])]
        want = None
        for text, w in parts:
            x = h.transform([text]) if w == 1.0 else w * h.transform([text])
            want = x if want is None else want + x
        want = want.tocsr()
        got = weighted_counts(parts)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.array_equal(got.indices, want.indices) and np.array_equal(got.indptr, want.indptr)
        assert np.array_equal(got.data, want.data)


def test_names_row_is_the_hasher_row() -> None:
    """``cluster._names_row`` (buckets remembered per name) is ``_NAME_HASHER.transform``, exactly,
    also with a zero weight, an empty article and two names that share a bucket."""
    from services.events.cluster import _names_row

    keys = [f"PERS:اسم{i}" for i in range(3000)]
    buckets = {}
    pair = None
    for k in keys:  # two names of one bucket (3,000 names in 2**18 buckets: certain)
        b = int(_NAME_HASHER.transform([{k: 1.0}]).indices[0])
        if b in buckets:
            pair = (buckets[b], k)
            break
        buckets[b] = k
    assert pair is not None
    cases = [{}, {"PERS:محمد": 2.0, "LOC:بغداد": 1.5, "P:98182": 0.35}, {"ORG:الامم المتحده": 0.0, "MISC:x": 3},
             {pair[0]: 1.25, pair[1]: 0.5, "PERS:محمد": 1.0}, dict.fromkeys(keys[:50], 0.7)]
    for names in cases:
        want = _NAME_HASHER.transform([names]).tocsr()
        got = _names_row(names)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.array_equal(got.indices, want.indices) and np.array_equal(got.indptr, want.indptr)
        assert np.array_equal(got.data, want.data)


def test_max_idf_is_the_vectorizer_one() -> None:
    """``features._max_idf`` (remembered buckets) is the largest idf of ``_hasher().transform``'s
    buckets, as ``_key_weight`` and ``_name_tokens`` computed it (1.0 without any)."""
    from services.events.features import _hasher, _max_idf, idf_table

    idf = idf_table()
    for text in ("محمد بن سلمان", "الامم المتحده", "x", "", "و", "Reuters 2024", "عبد المجيد تبون"):
        x = _hasher().transform([text])
        want = float(idf[x.indices].max()) if x.nnz else 1.0
        assert _max_idf(text) == want

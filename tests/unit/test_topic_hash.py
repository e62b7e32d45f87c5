"""The topic codec's own MurmurHash3 gives scikit-learn's values (the shipped topic model was
trained with them)."""

from __future__ import annotations

import random

import pytest

from services.events.topic import murmurhash3_32


def test_murmurhash3_32_equals_scikit_learn() -> None:
    sk = pytest.importorskip("sklearn.utils")
    rng = random.Random(7)
    alphabet = "abcXYZ019 ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإةى\u064b\u0640é€😀"
    keys = ["", "a", "ab", "abc", "abcd", "abcde", "الرئيس", "بغداد", "وبالمدينة"]
    keys += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    for key in keys:
        for seed in (0, 42):
            assert murmurhash3_32(key, seed) == sk.murmurhash3_32(key, seed=seed, positive=True), key

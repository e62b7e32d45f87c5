"""Every fold of the extract service comes from ``shared.arabic``'s one table, and the NER
features' fold is still the one the shipped models were trained with.

The NER features fold a documented SUBSET of the table (``features.FOLD_CHARS``): changing the
featurization would change the models' F1, so the subset is checked against the fold the models
were trained with (written out below as it stood in ``features.py`` before it was derived from
the table), on every character of the BMP and on every token of the ANERcorp test split and of
the sample articles.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services.extract import places
from services.extract.ner import features
from shared.arabic import ARABIC_MARKS, NORMALIZATION_TABLE, fold_table
from shared.arabic import normalize as shared_normalize
from tests.conftest import shared_file

# The fold the shipped models were trained with (features.py before this test existed).
_TRAINED_DIAC = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_TRAINED_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})
_TRAINED_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def _trained_map(text: str) -> str:
    return _TRAINED_DIAC.sub("", text).translate(_TRAINED_FOLD).translate(_TRAINED_DIGITS)


def _trained_normalize(word: str) -> str:
    return _trained_map(word).lower()


BMP = [chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000]


def _tokens() -> list[str]:
    toks = [line.split()[0] for line in shared_file("data", "ner", "anercorp_camel_rebuilt", "test.txt")
            .read_text(encoding="utf-8").splitlines() if line.split()]
    samples = Path(__file__).resolve().parents[2] / "hadath" / "samples" / "articles.jsonl"
    for line in samples.read_text(encoding="utf-8").splitlines():
        art = json.loads(line)
        text = (art.get("title") or "") + "\n" + (art.get("body") or "")
        toks += [text[s:e] for s, e in features.tokenize(text)]
    return sorted(set(toks))


@pytest.fixture(scope="module")
def tokens() -> list[str]:
    return _tokens()


def test_fold_table_takes_its_replacements_from_the_one_table():
    table = fold_table(features.FOLD_CHARS)
    assert table == {ord(c): NORMALIZATION_TABLE[c] for c in features.FOLD_CHARS}
    assert all(NORMALIZATION_TABLE[c] == "" for c in ARABIC_MARKS)
    with pytest.raises(KeyError):
        fold_table("a\u0627")  # lowercase a and bare alef are not table keys


def test_the_feature_fold_is_the_trained_one_on_every_character():
    """Both folds are per-character maps followed by ``str.lower``: equal on every BMP character
    means equal on every string."""
    fold = fold_table(features.FOLD_CHARS)
    diff = [f"U+{ord(c):04X}" for c in BMP if c.translate(fold) != _trained_map(c)]
    assert diff == []


def test_the_feature_fold_is_the_trained_one_on_every_token(tokens):
    assert len(tokens) > 8000
    assert [t for t in tokens if features.normalize(t) != _trained_normalize(t)] == []


def test_the_feature_fold_is_a_part_of_the_shared_normalization(tokens):
    """The rest of the table applied after the feature fold gives the shared normalization: the
    features fold less (hamza, Persian letters, punctuation, invisible marks stay), never
    otherwise. The difference is real (hamza forms are common), hence two functions."""
    differ = 0
    for t in tokens:
        assert shared_normalize(features.normalize(t)) == shared_normalize(t).lower(), t
        differ += features.normalize(t) != shared_normalize(t).lower()
    assert differ > 100


def test_places_strip_marks_as_before_and_key_with_the_shared_normalize():
    trained_marks = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
    assert [c for c in BMP if places._strip_marks(c) != trained_marks.sub("", c)] == []
    assert set(ARABIC_MARKS) == {c for c in BMP if trained_marks.match(c)}
    assert places.normalize_name("وَبِالعِرَاقِ  بـغداد") == shared_normalize("وبالعراق بغداد")


def test_the_table_keeps_camels_diacritics():
    from camel_tools.utils.charsets import AR_DIAC_CHARSET

    from shared.arabic import _AR_DIAC

    assert set(_AR_DIAC) == set(AR_DIAC_CHARSET)

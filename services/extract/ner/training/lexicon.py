"""The training lexicon of the CRF (``--lexicon``, off by default): names and name words seen in
the training data.

During training they are computed "jackknifed" (each fold sees the lexicon of the other folds),
so the CRF learns how far to trust them on unseen text; the lexicon of the whole training set
ships with the model as ``<model stem>-lexicon.tsv`` (read at run time by
:func:`services.extract.ner.gazetteers.load_lexicon`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from services.extract.ner.bio import bio_spans
from services.extract.ner.features import normalize, strip_prefix
from services.extract.ner.gazetteers import DEFAULT_LEXICON_PATH


def lexicon_from_sentences(sents, min_share: float = 0.5) -> tuple[set[tuple[str, str]], dict]:
    """``({(label, name)}, {word: (label, ...)})`` from (words, BIO tags) sentences.

    A word enters the word table for a label when at least ``min_share`` of its occurrences are
    inside entities of that label.
    """
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


def save_lexicon(names: set[tuple[str, str]], words: dict, path: Path = DEFAULT_LEXICON_PATH) -> Path:
    """Write ``N<TAB>LABEL<TAB>name`` and ``W<TAB>LABEL,...<TAB>word`` lines."""
    lines = [f"N\t{label}\t{name}\n" for label, name in sorted(names)]
    lines += [f"W\t{','.join(labels)}\t{w}\n" for w, labels in sorted(words.items())]
    path.write_text("".join(lines), encoding="utf-8")
    return path

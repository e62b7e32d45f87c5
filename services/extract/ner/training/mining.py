"""Bootstrapped discovery of organisation and MISC names in the unlabelled news corpus.

Command (from the repository root)::

    python -m services.extract.ner.training.mining \\
        ../shared/data/ner/anercorp_camel_rebuilt/train.txt ../shared/data/news/ant-20k.jsonl.gz
    # writes services/extract/ner/model/mined-gazetteer.tsv and prints its statistics

Algorithm: multi-category mutual bootstrapping of names and context patterns (Riloff & Jones
1999, "Learning Dictionaries for Information Extraction by Multi-Level Bootstrapping"; competing categories as in Basilisk, Thelen & Riloff 2002; contextual and
spelling views and decision lists as in Collins & Singer 1999, "Unsupervised Models for Named
Entity Classification"):

1. :func:`build_index` scans the corpus once. Candidates are the n-grams of 1 to
   :data:`MAX_LEN` normalised Arabic words that occur at least ``min_freq`` times, contain none
   of the ``stop`` most frequent words of the corpus, and are not mostly a fragment of a longer
   candidate (an extension by one word carries ≥ :data:`FRAGMENT` of its occurrences). The first
   word of an occurrence is taken in its most frequent form among those
   :func:`features._first_variants` gives (``والحشد`` → ``الحشد``), as the gazetteer lookup
   does. Every occurrence gives its patterns: the word before (``L1:``), the two words before
   (``L2:``), the word after (``R1:``), the words around (``LR:``) — the contextual view — and,
   for names of several words, the first (``H:``) and last (``T:``) word — the spelling view.
2. :func:`train_seeds` takes the seeds from the gold training split: its PERS, LOC, ORG and
   MISC names (so that PERS and LOC compete with ORG and MISC) and, as a fifth, negative
   category ``O``, the n-grams that are never part of a name (common words; without it the
   patterns drift to common nouns).
3. :func:`bootstrap` alternates (decision lists as in Collins & Singer's DL-CoTrain, over both
   views): every pattern extracting enough known names of one category, with a class
   probability ≥ ``theta`` under balanced class priors, becomes a rule of that category; every
   unknown :func:`cohesive` candidate is scored by the share of its occurrences in rule
   contexts that vote for each category (smoothed share; the rules of candidates of one word
   and of several words estimated apart, see :func:`bootstrap`); the best ``per_round``
   candidates per category with a share ≥ ``theta`` join the known names; ``rounds`` rounds. The known ORG and MISC names found
   in the corpus (seeds, round 0) and the learned ones are returned with their score (vote
   share) and corpus frequency.

No list of names is written by hand: the seeds are the training annotation, everything else
comes from the corpus. The output file (:func:`save`, read by
:func:`services.extract.ner.gazetteers.load_mined`) is ``LABEL<TAB>name<TAB>score<TAB>freq<TAB>round``
per line, names normalised and tokenised like the recognizer's input.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from services.extract.ner.bio import bio_spans
from services.extract.ner.features import _first_variants, normalize, tokenize
from services.extract.ner.gazetteers import DEFAULT_MINED_PATH
from services.extract.ner.training.corpora import news_texts, read_conll

MAX_LEN = 4
FRAGMENT = 0.7
LABELS = ("PERS", "LOC", "ORG", "MISC", "O")
TARGETS = ("ORG", "MISC")


def _is_word(w: str) -> bool:
    return len(w) >= 2 and all("\u0621" <= ch <= "\u064a" for ch in w)


def corpus_tokens(corpus: Path, limit: int | None = None) -> Iterable[list[str]]:
    """Normalised tokens of each article of ``corpus`` (title and body), as the recognizer
    tokenises (:func:`features.tokenize`, :func:`features.normalize`)."""
    for text in news_texts(corpus, limit):
        yield [normalize(text[s:e]) for s, e in tokenize(text)]


def _canonical_first(vocab: Counter) -> dict[str, str]:
    """Per word, its most frequent form among the name-initial variants (proclitics off, the
    article restored after لل) — how a name's first word is looked up."""
    out = {}
    for w in vocab:
        vs = _first_variants(w)
        out[w] = max(vs, key=lambda v: (vocab.get(v, 0), v == w)) if len(vs) > 1 else w
    return out


class Index:
    """Candidate names of a corpus and their patterns: ``names`` (list of str, words joined by
    one space), ``freq`` (int array, occurrences), ``patterns`` (list of str) and ``matrix``
    (scipy CSR, names × patterns, occurrence counts)."""

    def __init__(self, names, freq, patterns, matrix, stats) -> None:
        self.names, self.freq, self.patterns, self.matrix, self.stats = names, freq, patterns, matrix, stats
        self.name_id = {n: i for i, n in enumerate(names)}


def build_index(corpus: Path, min_freq: int = 4, stop: int = 100, limit: int | None = None,
                log=print) -> Index:
    """Scan ``corpus`` (JSON Lines news, see :func:`corpora.news_texts`) and build the
    candidate × pattern matrix (see the module docstring). About 2–4 min for the 20,000
    articles of ``ant-20k`` on one core. Raises ``FileNotFoundError`` when the corpus is absent."""
    from scipy.sparse import coo_matrix

    t0 = time.time()
    docs = list(corpus_tokens(Path(corpus), limit))
    vocab = Counter(w for d in docs for w in d)
    stops = {w for w, _ in vocab.most_common(stop)}
    canon = _canonical_first(vocab)
    ok = {w for w in vocab if _is_word(w) and w not in stops}
    log(f"mining: {len(docs)} articles, {sum(vocab.values())} tokens, {time.time() - t0:.0f} s")

    def spans(d):
        n = len(d)
        for i in range(n):
            if d[i] not in ok:
                continue
            first = canon[d[i]]
            for L in range(1, MAX_LEN + 1):
                j = i + L
                if j > n or d[j - 1] not in ok:
                    break
                yield i, j, first if L == 1 else first + " " + " ".join(d[i + 1 : j])

    # level-wise counts: an n-gram is counted only when its (n-1)-prefix is frequent (apriori)
    counts: Counter = Counter()
    for L in range(1, MAX_LEN + 1):
        level: Counter = Counter()
        for d in docs:
            n = len(d)
            for i in range(n - L + 1):
                if not all(w in ok for w in d[i : i + L]):
                    continue
                first = canon[d[i]]
                key = first if L == 1 else first + " " + " ".join(d[i + 1 : i + L])
                if L > 1 and counts.get(key.rsplit(" ", 1)[0], 0) < min_freq:
                    continue
                level[key] += 1
        counts.update({k: c for k, c in level.items() if c >= min_freq})
    # fragments: most occurrences inside a longer candidate (extension by one word either side)
    ext: Counter = Counter()
    for k, c in counts.items():
        toks = k.split(" ")
        if len(toks) > 1:
            ext[" ".join(toks[:-1])] = max(ext[" ".join(toks[:-1])], c)
            ext[" ".join(toks[1:])] = max(ext[" ".join(toks[1:])], c)
    names = sorted(k for k, c in counts.items() if ext.get(k, 0) < FRAGMENT * c)
    name_id = {k: i for i, k in enumerate(names)}
    log(f"mining: {len(names)} candidates ({len(counts)} frequent n-grams), {time.time() - t0:.0f} s")

    pat_id: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []

    def add(r, p):
        c = pat_id.get(p)
        if c is None:
            c = pat_id[p] = len(pat_id)
        rows.append(r)
        cols.append(c)

    for d in docs:
        n = len(d)
        for i, j, key in spans(d):
            r = name_id.get(key)
            if r is None:
                continue
            left = canon[d[i - 1]] if i > 0 else "<s>"
            right = canon[d[j]] if j < n else "</s>"
            add(r, "L1:" + left)
            add(r, "R1:" + right)
            add(r, "LR:" + left + "_" + right)
            if i > 1:
                add(r, "L2:" + canon[d[i - 2]] + "_" + left)
            if j - i > 1:
                add(r, "H:" + key.split(" ", 1)[0])
                add(r, "T:" + d[j - 1])
    patterns = [None] * len(pat_id)
    for p, c in pat_id.items():
        patterns[c] = p
    m = coo_matrix((np.ones(len(rows), np.float32), (np.asarray(rows), np.asarray(cols))),
                   shape=(len(names), len(patterns))).tocsr()
    m.sum_duplicates()
    freq = np.array([counts[k] for k in names], np.int64)
    stats = {"articles": len(docs), "tokens": int(sum(vocab.values())), "candidates": len(names),
             "patterns": len(patterns), "occurrence_patterns": len(rows),
             "index_seconds": round(time.time() - t0, 1)}
    log(f"mining: index {stats}")
    return Index(names, freq, patterns, m, stats)


def save_index(index: Index, path: Path) -> None:
    """Cache an :class:`Index` (pickle; a training artefact, never shipped)."""
    with Path(path).open("wb") as fh:
        pickle.dump((index.names, index.freq, index.patterns, index.matrix, index.stats), fh)


def load_index(path: Path) -> Index:
    """Inverse of :func:`save_index`."""
    with Path(path).open("rb") as fh:
        return Index(*pickle.load(fh))


def train_seeds(sents: Sequence[tuple[Sequence[str], Sequence[str]]], canon=None,
                max_len: int = MAX_LEN, min_common: int = 2) -> dict[str, str]:
    """Seeds of the bootstrap from gold sentences: ``name -> label``. Keys are normalised
    n-grams (words joined by one space; the first word in its name-initial form when ``canon``
    maps it). An n-gram is a seed of label X when at least half of its occurrences are exactly
    an X entity (so a word such as دولار, tagged MISC now and then, stays out); it is a seed of
    the competing ``O`` category (common words and phrases) when it occurs at least
    ``min_common`` times and never inside an entity — the negative category that stops the
    patterns from drifting to common nouns (Thelen & Riloff 2002)."""
    seen: Counter = Counter()
    bad: set[str] = set()
    spans: dict[str, Counter] = {}
    for words, tags in sents:
        toks = [normalize(w) for w in words]
        ents = {(s, e): label for s, e, label in bio_spans(tags)}
        for i in range(len(toks)):
            first = canon.get(toks[i], toks[i]) if canon is not None else toks[i]
            for L in range(1, max_len + 1):
                if i + L > len(toks):
                    break
                key = first if L == 1 else first + " " + " ".join(toks[i + 1 : i + L])
                seen[key] += 1
                if any(t != "O" for t in tags[i : i + L]):
                    bad.add(key)
                label = ents.get((i, i + L))
                if label is not None:
                    spans.setdefault(key, Counter())[label] += 1
    out = {k: "O" for k, c in seen.items() if c >= min_common and k not in bad}
    for k, votes in spans.items():
        label, c = votes.most_common(1)[0]
        if 2 * c >= seen[k]:
            out[k] = label
    return out


def cohesive(index: Index, min_prefix: float = 0.05, min_suffix: float = 0.02) -> np.ndarray:
    """Boolean mask of the candidates that may be learned: a name of several words must carry
    at least ``min_prefix`` of the occurrences of its words without the last one and
    ``min_suffix`` of those of its words without the first one ("مجلس الامن بشان" is a rare
    continuation of "مجلس الامن" and is not a name of its own; "التحالف الدولي" carries a good
    share of "التحالف"). Candidates of one word always may."""
    freq = dict(zip(index.names, index.freq.tolist()))
    out = np.ones(len(index.names), bool)
    for i, name in enumerate(index.names):
        toks = name.split(" ")
        if len(toks) > 1:
            f = index.freq[i]
            if (f < min_prefix * freq.get(" ".join(toks[:-1]), 0)
                    or f < min_suffix * freq.get(" ".join(toks[1:]), 0)):
                out[i] = False
    return out


def _pers_edges(index: Index) -> list[np.ndarray]:
    """Per candidate, the ids of its proper sub-n-grams of two words or more that start or end
    where it starts or ends (candidates themselves), e.g. "محمد صلاح" in "ليفربول الانكليزي
    محمد صلاح"; empty for candidates of one or two words."""
    out = []
    for name in index.names:
        toks = name.split(" ")
        ids = []
        for L in range(2, len(toks)):
            for sub in (toks[:L], toks[-L:]):
                i = index.name_id.get(" ".join(sub))
                if i is not None:
                    ids.append(i)
        out.append(np.asarray(ids, np.int64))
    return out


def bootstrap(index: Index, seeds: dict[str, str], rounds: int = 12, per_round: int = 80,
              theta: float = 0.7, min_known: int = 3, min_votes: int = 4, smooth: float = 0.1,
              split: bool = True, alpha: float = 1.0) -> list[dict]:
    """Mutual bootstrapping over ``index`` from ``seeds`` (name -> label, :data:`LABELS`; see
    the module docstring), in the decision-list form of Collins & Singer 1999:

    * a pattern is a rule for label c when at least ``min_known`` known names of c have it and
      P(c | pattern) ≥ ``theta``, with balanced class priors: P(c | p) ∝ (F_c + s) / N_c (F_c:
      distinct known names of label c the pattern extracts, N_c: known names of c; the ``O``
      seeds count, so the contexts of common nouns become rules for ``O`` and generic contexts,
      shared by every label, are no rule at all);
    * with ``split`` (the default) the rules are estimated twice, from the known names of one
      word for candidates of one word and from the known names of several words for candidates
      of several words, and each candidate is voted on by the rules of its own kind: the words
      that follow a collective noun such as فصائل or قوات are mostly adjectives and verbs when
      they stand alone (common, ``O``) but mostly names when they form a phrase of their own,
      so one decision list for both hides every multi-word name behind the one-word commons
      (this is what lets descriptive names such as "noun + nisba adjective" be learned);
    * an unknown candidate's votes are its occurrences in the contexts of rules; its score for
      c is the additively smoothed share of its votes that go to c, (V_c + ``alpha``) /
      (V + K ``alpha``) (the smoothed decision-list strength of Collins & Singer 1999, K = 5
      labels; ``alpha`` = 0 gives the raw share, which ranks a name with 4 votes out of 4 above
      one with 300 of 310); it is learned as c when that score is ≥ ``theta``, it has at least
      ``min_votes`` votes, it is :func:`cohesive` and it does not begin or end with a known
      PERS name of two words or more (a club or a party followed by its player or leader);
      per label the ``per_round`` best scores are added each round (``O`` as much as the others
      together).

    Returns the known names of :data:`TARGETS` as dicts ``{label, name, score, freq, round}``
    (round 0: a seed found in the corpus, score 1; score: the vote share), seeds first, then
    by round and score."""
    m = index.matrix.tocsr()
    mt = (m > 0).T.tocsr().astype(np.float32)  # patterns × names, distinct-name incidence
    n_names, K = len(index.names), len(LABELS)
    label_of = np.full(n_names, -1, np.int64)
    round_of = np.zeros(n_names, np.int64)
    score_of = np.ones(n_names, np.float64)
    for name, lab in seeds.items():
        i = index.name_id.get(name)
        if i is not None and lab in LABELS:
            label_of[i] = LABELS.index(lab)
    eligible = cohesive(index)
    multi = np.array([" " in n for n in index.names])
    groups = [multi, ~multi] if split else [np.ones(n_names, bool)]
    edges = _pers_edges(index)
    with_edges = np.flatnonzero([len(e) > 0 for e in edges])
    pers = LABELS.index("PERS")
    for r in range(1, rounds + 1):
        votes = np.zeros((n_names, K), np.float64)  # names × labels: occurrences in rule contexts
        for g in groups:
            known = np.stack([((label_of == k) & g).astype(np.float32) for k in range(K)], 1)
            F = np.asarray(mt @ known)  # patterns × labels
            rate = (F + smooth) / np.maximum(known.sum(axis=0), 1)[None, :]  # balanced class priors
            P = rate / rate.sum(axis=1, keepdims=True)
            rule = (P >= theta) & (F >= min_known)  # patterns × labels (at most one True per row)
            votes[g] = np.asarray(m[np.flatnonzero(g)] @ rule.astype(np.float32))
        total = votes.sum(axis=1)
        share = (votes + alpha) / np.maximum(total[:, None] + K * alpha, 1e-9)
        free = (label_of < 0) & (total >= min_votes) & eligible
        for i in with_edges:  # a known person at the start or the end: not a name of its own
            if free[i] and (label_of[edges[i]] == pers).any():
                free[i] = False
        for k, lab in enumerate(LABELS):
            cand = np.flatnonzero(free & (share[:, k] >= theta))
            rank = share[cand, k]
            best = cand[np.argsort(-rank, kind="stable")][: per_round * (K - 1 if lab == "O" else 1)]
            label_of[best] = k
            round_of[best] = r
            score_of[best] = share[best, k]
            free[best] = False
    out = []
    for lab in TARGETS:
        ids = np.flatnonzero(label_of == LABELS.index(lab))
        rows = [{"label": lab, "name": index.names[i], "score": round(float(score_of[i]), 3),
                 "freq": int(index.freq[i]), "round": int(round_of[i])} for i in ids]
        out.extend(sorted(rows, key=lambda x: (x["round"], -x["score"], x["name"])))
    return out


def save(rows: Sequence[dict], path: Path) -> None:
    """Write mined names, one ``LABEL<TAB>name<TAB>score<TAB>freq<TAB>round`` line each."""
    Path(path).write_text("".join(f"{r['label']}\t{r['name']}\t{r['score']}\t{r['freq']}\t{r['round']}\n"
                                  for r in rows), encoding="utf-8")


def statistics(rows: Sequence[dict]) -> dict:
    """Counts of mined names per label: seeds found in the corpus, learned names, their
    frequency (total and median) and the number of names of several words."""
    out = {}
    for lab in TARGETS:
        mine = [r for r in rows if r["label"] == lab]
        learned = [r for r in mine if r["round"] > 0]
        out[lab] = {"names": len(mine), "seeds_in_corpus": len(mine) - len(learned),
                    "learned": len(learned),
                    "learned_multiword": sum(" " in r["name"] for r in learned),
                    "learned_occurrences": sum(r["freq"] for r in learned),
                    "learned_median_freq": int(np.median([r["freq"] for r in learned])) if learned else 0}
    return out


def fold_of(n: int, i: int, folds: int = 6) -> int:
    """Fold of sentence ``i`` of ``n`` when the split is cut into ``folds`` contiguous parts
    (the ``--dev-fold`` convention of :mod:`neural_train`: part k is ``[n*k//folds, n*(k+1)//folds)``)."""
    return max(k for k in range(folds) if n * k // folds <= i)


def mine(train: Path, index: Index, exclude_folds: Iterable[int] = (), **kw) -> list[dict]:
    """Bootstrapped names from the gold names of ``train`` minus the sentences of the
    ``exclude_folds`` sixths (jackknifed gazetteers for training; see :func:`bootstrap`)."""
    sents = read_conll(train)
    ex = set(exclude_folds)
    keep = [s for i, s in enumerate(sents) if fold_of(len(sents), i) not in ex]
    vocab = Counter({w: int(f) for w, f in zip(index.names, index.freq) if " " not in w})
    return bootstrap(index, train_seeds(keep, _canonical_first(vocab)), **kw)


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train", type=Path)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--out", type=Path, default=DEFAULT_MINED_PATH)
    ap.add_argument("--index", type=Path, default=None, help="cache of the corpus index (pickle)")
    ap.add_argument("--exclude-fold", type=int, action="append", default=[])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--per-round", type=int, default=80)
    args = ap.parse_args(argv)
    if args.index is not None and args.index.exists():
        index = load_index(args.index)
    else:
        index = build_index(args.corpus)
        if args.index is not None:
            save_index(index, args.index)
    t0 = time.time()
    rows = mine(args.train, index, args.exclude_fold, rounds=args.rounds, per_round=args.per_round)
    save(rows, args.out)
    print(json.dumps({"index": index.stats, "bootstrap_seconds": round(time.time() - t0, 1),
                      "stats": statistics(rows), "out": str(args.out)}, ensure_ascii=False, indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()

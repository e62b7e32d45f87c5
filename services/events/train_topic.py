"""Train and measure the topic classifier of :mod:`services.events.topic` on the ANT news corpus.

Command (from the repository root)::

    python -m services.events.train_topic [--corpus ../shared/data/news/ant-20k.jsonl.gz]
                                          [--out services/events/model/topic-ant.npz]
                                          [--speed ../shared/data/news/ant-2k.jsonl] [--compare]

It prints, and with ``--metrics FILE`` writes as JSON:

* the literal split of issue #10 — articles published before 2018 (UTC) for training, 2018 for
  the test: only 38 articles of three topics are before 2018, so this is measured and reported
  but cannot make a usable model;
* the time split the shipped model uses — before 2018-07-01 (UTC) for training, from then on
  for the test (70.7 % / 29.3 % of the corpus; every topic and source on both sides): accuracy,
  macro-F1, per-class precision/recall/F1, the confusion matrix, a per-source breakdown and the
  internationalNews ↔ middleEast confusion;
* with ``--compare``, the model-selection table: feature/classifier options scored on a held-out
  fold of the TRAINING split only (its last fifth in time), never on the test split;
* with ``--speed``, articles per second of :meth:`TopicClassifier.predict` on one core.

The model written is trained on the time split's training part only, so the test figures are
those of the shipped file. Training code lives here; :mod:`services.events.topic` is run time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.svm import LinearSVC

from services.events.topic import (
    DEFAULT_MODEL_PATH,
    FORMAT,
    TopicClassifier,
    article_text,
    hashed_counts,
    tfidf_rows,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "news" / "ant-20k.jsonl.gz"
DEFAULT_SPEED_CORPUS = REPO.parent / "shared" / "data" / "news" / "ant-2k.jsonl"
LITERAL_CUTOFF = datetime(2018, 1, 1, tzinfo=UTC)
TIME_CUTOFF = datetime(2018, 7, 1, tzinfo=UTC)
#: The shipped recipe (chosen on the held-out fold, see MODEL_CARD.md).
DEFAULT_RECIPE = {"bits": 18, "min_df": 2, "C": 0.5, "stem": True}
DEV_FRACTION = 0.2
TEMPERATURES = np.geomspace(0.02, 2.0, 61)


# ------------------------------------------------------------------------------ data

def read_corpus(path: str | Path) -> list[dict]:
    """Articles of a JSON Lines file (``.gz`` or plain), each a dict with at least ``title``,
    ``body``, ``published_at`` (ISO 8601), ``source`` and ``category``; file order kept."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def published_utc(row: dict) -> datetime:
    """``published_at`` as an aware UTC datetime (a naive time is taken as UTC)."""
    t = datetime.fromisoformat(row["published_at"].replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def split_by_time(rows: Sequence[dict], cutoff: datetime) -> tuple[list[dict], list[dict]]:
    """``(before, from_cutoff)``: articles published before ``cutoff`` (UTC) and the others,
    each sorted by publication time."""
    ordered = sorted(rows, key=published_utc)
    return ([r for r in ordered if published_utc(r) < cutoff],
            [r for r in ordered if published_utc(r) >= cutoff])


def texts_labels(rows: Sequence[dict]) -> tuple[list[str], list[str]]:
    """Raw classifier texts (:func:`article_text`) and ``category`` labels of ``rows``."""
    return [article_text(r.get("title"), r.get("body")) for r in rows], [r["category"] for r in rows]


# ------------------------------------------------------------------------------ training

def fit_topic_model(texts: Sequence[str], labels: Sequence[str], *, bits: int = 18,
                    min_df: int = 2, C: float = 0.5, stem: bool = True, temperature: float = 1.0,
                    meta: dict | None = None) -> TopicClassifier:
    """Train the shipped recipe: hashed word 1–2-grams (``2**bits`` buckets, those in fewer
    than ``min_df`` articles dropped), sublinear TF-IDF, one-vs-rest ``LinearSVC(C)``.

    ``texts`` are raw (``title + "\\n" + body``); the features are exactly the run-time ones
    (:meth:`TopicClassifier.transform`)."""
    counts = hashed_counts(texts, bits, stem)
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    buckets = np.flatnonzero(df >= min_df)
    idf_kept = (np.log((1.0 + n) / (1.0 + df[buckets])) + 1.0).astype(np.float32)
    idf = np.zeros(counts.shape[1], dtype=np.float32)
    idf[buckets] = idf_kept
    x = tfidf_rows(counts, idf)[:, buckets]
    svc = LinearSVC(C=C, random_state=0)
    svc.fit(x, list(labels))
    classes = [str(c) for c in svc.classes_]
    coef, intercept = svc.coef_.astype(np.float32), svc.intercept_.astype(np.float32)
    if len(classes) == 2:  # binary LinearSVC: one row for classes[1]; make it one row per class
        coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
    recipe = {"features": "normalize + article/proclitic strip, hashed word 1-2-grams, "
                          "sublinear tf-idf, l2 rows", "classifier": f"LinearSVC(C={C})",
              "min_df": min_df, "train_articles": n}
    return TopicClassifier(classes, buckets, idf_kept, coef, intercept, bits=bits, stem=stem,
                           temperature=temperature, meta={**recipe, **(meta or {})})


def fit_temperature(scores: np.ndarray, labels: Sequence[str], classes: Sequence[str]) -> float:
    """The softmax temperature (of :data:`TEMPERATURES`) with the least log loss of ``scores``
    ``(n, k)`` against ``labels``."""
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels])
    best, best_loss = 1.0, np.inf
    for t in TEMPERATURES:
        s = scores / t
        s = s - s.max(axis=1, keepdims=True)
        loss = float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(y)), y]))
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


def train_shipped(train_rows: Sequence[dict], recipe: dict | None = None, *,
                  meta: dict | None = None) -> tuple[TopicClassifier, dict]:
    """The shipped model: the softmax temperature is fitted on the held-out fold (a model
    trained on the first 80 % of ``train_rows`` in time, scored on the last 20 %), then the
    model is retrained on all of ``train_rows``. Returns ``(model, dev figures)``."""
    recipe = {**DEFAULT_RECIPE, **(recipe or {})}
    fit_rows, dev_rows = dev_fold(train_rows)
    xf, yf = texts_labels(fit_rows)
    xd, yd = texts_labels(dev_rows)
    dev_model = fit_topic_model(xf, yf, **recipe)
    scores = dev_model.decision_function(xd)
    temperature = fit_temperature(scores, yd, dev_model.classes)
    pred = [dev_model.classes[i] for i in scores.argmax(axis=1)]
    dev = {"articles": len(dev_rows), "accuracy": accuracy_score(yd, pred),
           "macro_f1": f1_score(yd, pred, average="macro"), "temperature": temperature}
    x, y = texts_labels(train_rows)
    return fit_topic_model(x, y, **recipe, temperature=temperature, meta=meta), dev


def dev_fold(train_rows: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """The held-out fold for model selection: the last :data:`DEV_FRACTION` of the training
    articles in time order (the test split is never used for a choice)."""
    ordered = sorted(train_rows, key=published_utc)
    cut = int(round(len(ordered) * (1 - DEV_FRACTION)))
    return ordered[:cut], ordered[cut:]


# ------------------------------------------------------------------------------ measurement

def evaluate(model: TopicClassifier, rows: Sequence[dict]) -> dict:
    """Scores of ``model`` on labelled ``rows``: accuracy, macro-F1 (over the topics present in
    the gold labels or predictions), per-class precision/recall/F1/support, the confusion
    matrix (rows gold, columns predicted, in ``labels`` order), per-source accuracy/macro-F1
    and the internationalNews/middleEast confusion counts."""
    x, gold = texts_labels(rows)
    pred = model.predict(x)
    labels = sorted(set(gold) | set(pred))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    out = {
        "articles": len(rows), "accuracy": accuracy_score(gold, pred),
        "macro_f1": f1_score(gold, pred, labels=labels, average="macro", zero_division=0),
        "labels": labels,
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                          "support": int(s[i])} for i, c in enumerate(labels)},
        "confusion": confusion_matrix(gold, pred, labels=labels).tolist(),
        "per_source": {},
    }
    for source in sorted({row["source"] for row in rows}):
        idx = [i for i, row in enumerate(rows) if row["source"] == source]
        g, q = [gold[i] for i in idx], [pred[i] for i in idx]
        out["per_source"][source] = {
            "articles": len(idx), "accuracy": accuracy_score(g, q),
            "macro_f1": f1_score(g, q, average="macro", zero_division=0),
            "intl_as_me": sum(a == "internationalNews" and b == "middleEast" for a, b in zip(g, q)),
            "me_as_intl": sum(a == "middleEast" and b == "internationalNews" for a, b in zip(g, q)),
            "intl": g.count("internationalNews"), "me": g.count("middleEast")}
    out["intl_as_me"] = sum(v["intl_as_me"] for v in out["per_source"].values())
    out["me_as_intl"] = sum(v["me_as_intl"] for v in out["per_source"].values())
    return out


def measure_speed(model: TopicClassifier, rows: Sequence[dict], repeats: int = 3) -> dict:
    """Articles per second of :meth:`TopicClassifier.predict` over ``rows`` (raw title + body,
    normalisation included), best of ``repeats`` runs, in this process (one core: the hasher
    and the sparse product are single-threaded; BLAS threads are not used by them)."""
    x, _ = texts_labels(rows)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        model.predict(x)
        best = min(best, time.perf_counter() - t)
    return {"articles": len(x), "seconds": best, "articles_per_s": len(x) / best}


def class_counts(rows: Sequence[dict]) -> dict[str, int]:
    """``category -> number of articles``, sorted by name."""
    out: dict[str, int] = {}
    for r in rows:
        out[r["category"]] = out.get(r["category"], 0) + 1
    return dict(sorted(out.items()))


# ------------------------------------------------------------------------------ comparison

def compare_options(train_rows: Sequence[dict], log: Callable[[str], None] = print) -> list[dict]:
    """Score feature/classifier options on the held-out fold of the training split (first 80 %
    in time to fit, last 20 % to score): accuracy, macro-F1, fit seconds. Slow (minutes)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.naive_bayes import ComplementNB

    from services.events.topic import prepare  # the same words, as text for the vectorizers

    fit_rows, dev_rows = dev_fold(train_rows)
    xf, yf = texts_labels(fit_rows)
    xd, yd = texts_labels(dev_rows)
    results: list[dict] = []

    def record(name: str, pred: Sequence[str], seconds: float) -> None:
        row = {"option": name, "accuracy": accuracy_score(yd, pred),
               "macro_f1": f1_score(yd, pred, average="macro"), "seconds": seconds}
        results.append(row)
        log(f"  {name:58s} acc {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  {seconds:6.1f} s")

    for bits, C, stem in ((18, 0.5, True), (18, 1.0, True), (18, 0.5, False), (20, 0.5, True)):
        t = time.perf_counter()
        m = fit_topic_model(xf, yf, bits=bits, C=C, stem=stem)
        record(f"hashed w1-2 2^{bits}{'' if stem else ' no stem'}, LinearSVC C={C}"
               f"{' (shipped)' if (bits, C, stem) == (18, 0.5, True) else ''}",
               m.predict(xd), time.perf_counter() - t)
    pf, pd = [prepare(t) for t in xf], [prepare(t) for t in xd]
    vectorizers = {
        "tfidf w1 vocabulary": dict(ngram_range=(1, 1)),
        "tfidf w1-2 vocabulary": dict(ngram_range=(1, 2)),
        "tfidf char_wb 2-5 (300k)": dict(analyzer="char_wb", ngram_range=(2, 5), max_features=300_000),
    }
    classifiers = {
        "LinearSVC C=0.5": lambda: LinearSVC(C=0.5),
        "LogisticRegression C=20": lambda: LogisticRegression(C=20, max_iter=2000),
        "SGD modified_huber a=1e-5": lambda: SGDClassifier(loss="modified_huber", alpha=1e-5,
                                                           max_iter=50, tol=None, random_state=0),
        "ComplementNB a=0.3": lambda: ComplementNB(alpha=0.3),
    }
    for vname, kw in vectorizers.items():
        t0 = time.perf_counter()
        vec = TfidfVectorizer(min_df=2, sublinear_tf=True, token_pattern=r"\w\w+", **kw)
        af, ad = vec.fit_transform(pf), vec.transform(pd)
        tv = time.perf_counter() - t0
        for cname, make in classifiers.items():
            if vname.startswith("tfidf char") and cname.startswith("Logistic"):
                continue  # minutes for the same figure as LinearSVC; skipped
            t = time.perf_counter()
            clf = make().fit(af, yf)
            record(f"{vname}, {cname}", clf.predict(ad), tv + time.perf_counter() - t)
    return results


# ------------------------------------------------------------------------------ report

def format_report(name: str, counts_train: dict, counts_test: dict, ev: dict) -> str:
    """A plain-text block of one split's figures."""
    lines = [f"== {name}",
             f"train {sum(counts_train.values())} articles: {counts_train}",
             f"test  {sum(counts_test.values())} articles: {counts_test}",
             f"accuracy {ev['accuracy']:.4f}   macro-F1 {ev['macro_f1']:.4f}",
             "per class (precision recall F1 support):"]
    for c, v in ev["per_class"].items():
        lines.append(f"  {c:18s} {v['precision']:.3f} {v['recall']:.3f} {v['f1']:.3f} {v['support']:5d}")
    labels = ev["labels"]
    short = [c[:6] for c in labels]
    lines.append("confusion (rows gold, columns predicted): " + " ".join(f"{s:>6s}" for s in short))
    for c, row in zip(labels, ev["confusion"]):
        lines.append(f"  {c:18s} " + " ".join(f"{v:6d}" for v in row))
    lines.append(f"internationalNews -> middleEast {ev['intl_as_me']}, middleEast -> internationalNews "
                 f"{ev['me_as_intl']}")
    lines.append("per source (articles, accuracy, macro-F1, intl->ME of intl, ME->intl of ME):")
    for s, v in ev["per_source"].items():
        lines.append(f"  {s:16s} {v['articles']:5d} {v['accuracy']:.4f} {v['macro_f1']:.4f} "
                     f"{v['intl_as_me']:4d}/{v['intl']:<5d} {v['me_as_intl']:4d}/{v['me']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m services.events.train_topic", description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="ANT JSON Lines (.gz or plain)")
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help="model file to write (.npz)")
    ap.add_argument("--speed", type=Path, default=DEFAULT_SPEED_CORPUS,
                    help="articles to time predict() on (skipped when absent)")
    ap.add_argument("--metrics", type=Path, default=None, help="also write the figures as JSON here")
    ap.add_argument("--compare", action="store_true", help="also run the model-selection table (minutes)")
    ap.add_argument("--bits", type=int, default=DEFAULT_RECIPE["bits"])
    ap.add_argument("--min-df", type=int, default=DEFAULT_RECIPE["min_df"])
    ap.add_argument("-C", type=float, default=DEFAULT_RECIPE["C"])
    ap.add_argument("--no-stem", action="store_true", help="keep the article and proclitics")
    args = ap.parse_args(argv)
    recipe = {"bits": args.bits, "min_df": args.min_df, "C": args.C, "stem": not args.no_stem}

    t0 = time.perf_counter()
    rows = read_corpus(args.corpus)
    print(f"{len(rows)} articles from {args.corpus}")
    figures: dict = {"corpus": str(args.corpus), "articles": len(rows), "recipe": recipe}

    # 1. the literal split (before 2018 / 2018)
    lit_train, lit_test = split_by_time(rows, LITERAL_CUTOFF)
    x, y = texts_labels(lit_train)
    lit_model = fit_topic_model(x, y, **recipe)
    ev = evaluate(lit_model, lit_test)
    print(format_report("literal split: before 2018 / 2018", class_counts(lit_train), class_counts(lit_test), ev))
    figures["literal_split"] = {"cutoff": LITERAL_CUTOFF.isoformat(), "train": class_counts(lit_train),
                                "test": class_counts(lit_test), **ev}

    # 2. the time split the shipped model uses
    train, test = split_by_time(rows, TIME_CUTOFF)
    if args.compare:
        print("== model selection on the held-out fold of the training split (last 20 % in time)")
        figures["comparison"] = compare_options(train)
    t = time.perf_counter()
    model, dev = train_shipped(train, recipe, meta={
        "split": f"trained on {len(train)} articles published before {TIME_CUTOFF.date()} (UTC)",
        "corpus": "ANT Corpus v2.1 sample ant-20k (Chouigui, Ben Khiroun and Elayeb, AICCSA 2017)"})
    train_seconds = time.perf_counter() - t
    print(f"== held-out fold ({dev['articles']} articles): accuracy {dev['accuracy']:.4f} "
          f"macro-F1 {dev['macro_f1']:.4f}, softmax temperature {dev['temperature']:.3f}")
    path = model.save(args.out)
    shipped = TopicClassifier.from_file(path)  # score the file as written (float16 weights)
    ev = evaluate(shipped, test)
    print(format_report(f"time split: before {TIME_CUTOFF.date()} / from {TIME_CUTOFF.date()}",
                        class_counts(train), class_counts(test), ev))
    size = os.path.getsize(path)
    print(f"model {path}: {size / 1e6:.2f} MB, {int(shipped._idf.astype(bool).sum())} buckets kept "
          f"of 2^{shipped.bits}, trained in {train_seconds:.1f} s")
    figures["time_split"] = {"cutoff": TIME_CUTOFF.isoformat(), "train": class_counts(train),
                             "test": class_counts(test), "dev": dev, **ev}
    figures["model"] = {"path": str(path), "bytes": size, "train_seconds": train_seconds}

    if args.speed and Path(args.speed).exists():
        sp_rows = read_corpus(args.speed)
        speed = measure_speed(shipped, sp_rows)
        print(f"speed: {speed['articles']} articles in {speed['seconds']:.2f} s = "
              f"{speed['articles_per_s']:.0f} articles/s (one process, {args.speed.name})")
        figures["speed"] = speed
    if args.metrics:
        args.metrics.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"done in {time.perf_counter() - t0:.0f} s (format {FORMAT})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

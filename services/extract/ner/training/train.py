"""Train the CRF recognizer on "word TAG" (BIO) data; tune c1/c2 on a held-out part of train.

Command (from the repository root)::

    python -m services.extract.ner.training.train ../shared/data/ner/anercorp_camel_rebuilt/train.txt

It (re)builds ``model/gazetteers.tsv`` when the gazetteer sources exist, uses
``model/clusters.tsv`` (built by :mod:`services.extract.ner.training.clusters`), optionally tunes c1/c2 on the
last sixth of the training sentences (``--tune``) and writes ``model/anercorp-crf.crfsuite``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import pycrfsuite

from services.extract.ner import clusters as clusters_mod
from services.extract.ner import gazetteers as gaz_mod
from services.extract.ner.crf import DEFAULT_MODEL_PATH
from services.extract.ner.features import document_contexts, sentence_features
from services.extract.ner.training import gazetteers as gaz_build
from services.extract.ner.training import lexicon as lexicon_mod
from services.extract.ner.training.corpora import DEFAULT_DATA_DIR, read_conll
DEFAULT_FEATURES = {"gazetteers": True, "clusters": True, "vectors": True, "doc": True,
                    "lexicon": False, "parts": True}
DEFAULT_HYPER = {"c1": 0.01, "c2": 0.2, "max_iterations": 250}


def featurize(sents: Sequence[Sequence[str]], resources: dict) -> list[list[dict[str, float]]]:
    """Feature dicts of each sentence with the given gazetteer/cluster resources."""
    docs = (document_contexts(sents, resources.get("gaz"), resources.get("gaz_max_len", 6))
            if resources.get("doc", False) else [None] * len(sents))
    return [sentence_features(s, resources.get("gaz"), resources.get("gaz_max_len", 6),
                              resources.get("clusters"), resources.get("token_lex"), d)
            for s, d in zip(sents, docs, strict=True)]


def with_lexicon(resources: dict, sents) -> dict:
    """Resources plus the training lexicon of ``sents`` (names merged into the gazetteer)."""
    names, words = lexicon_mod.lexicon_from_sentences(sents)
    gaz, max_len = gaz_mod.merge(resources.get("gaz") or {}, resources.get("gaz_max_len", 1), names)
    return {**resources, "gaz": gaz, "gaz_max_len": max_len, "token_lex": words}


def featurize_jackknife(sents, resources: dict, folds: int = 5) -> list[list[dict[str, float]]]:
    """Features of labelled ``sents`` where each contiguous fold sees the lexicon of the others."""
    n = len(sents)
    bounds = [n * k // folds for k in range(folds + 1)]
    xs: list[list[dict[str, float]]] = []
    for k in range(folds):
        a, b = bounds[k], bounds[k + 1]
        res = with_lexicon(resources, sents[:a] + sents[b:])
        xs.extend(featurize([w for w, _ in sents[a:b]], res))
    return xs


def load_resources(use_gazetteers: bool = True, use_clusters: bool = True,
                   use_lexicon: bool = False, use_vectors: bool = True,
                   use_doc: bool = False, use_parts: bool = False) -> dict:
    """Shipped gazetteer and cluster tables (empty when switched off or absent)."""
    gaz, max_len = gaz_mod.load(parts=use_parts) if use_gazetteers else ({}, 1)
    return {"gaz": gaz, "gaz_max_len": max_len, "lexicon": use_lexicon, "doc": use_doc,
            "clusters": clusters_mod.load_clusters(with_vectors=use_vectors) if use_clusters else {}}


def _fit(xs, ys, model_path: Path, c1: float, c2: float, max_iterations: int,
         min_freq: float = 0) -> None:
    trainer = pycrfsuite.Trainer(algorithm="lbfgs", verbose=False)
    for x, y in zip(xs, ys, strict=True):
        trainer.append(pycrfsuite.ItemSequence(x), y)
    trainer.set_params({"c1": c1, "c2": c2, "max_iterations": max_iterations,
                        "feature.possible_transitions": True, "feature.minfreq": min_freq})
    model_path.parent.mkdir(parents=True, exist_ok=True)
    trainer.train(str(model_path))


def _f1(model_path: Path, xs, ys) -> float:
    from seqeval.metrics import f1_score

    tagger = pycrfsuite.Tagger()
    tagger.open(str(model_path))
    pred = [tagger.tag(pycrfsuite.ItemSequence(x)) for x in xs]
    tagger.close()
    return float(f1_score(ys, pred))


def tune(train_path: Path, grid: Sequence[tuple[float, float]], max_iterations: int = 250,
         resources: dict | None = None, work: Path = Path("/tmp/hadath-crf-tune"),
         dev_fold: int = 5) -> list[dict]:
    """Micro F1 on one contiguous sixth of the training sentences (``dev_fold`` 0-5, default the
    last) for each (c1, c2) of ``grid``, training on the other five sixths."""
    sents = read_conll(train_path)
    a, b = len(sents) * dev_fold // 6, len(sents) * (dev_fold + 1) // 6
    fit_sents, dev_sents = sents[:a] + sents[b:], sents[a:b]
    res = resources if resources is not None else load_resources()
    if res.get("lexicon", False):
        xs_tr = featurize_jackknife(fit_sents, res)
        xs_dev = featurize([w for w, _ in dev_sents], with_lexicon(res, fit_sents))
    else:
        xs_tr = featurize([w for w, _ in fit_sents], res)
        xs_dev = featurize([w for w, _ in dev_sents], res)
    out = []
    for c1, c2 in grid:
        path = work / f"{os.getpid()}-c1={c1}-c2={c2}.crfsuite"
        t0 = time.time()
        _fit(xs_tr, [t for _, t in fit_sents], path, c1, c2, max_iterations)
        f1 = _f1(path, xs_dev, [t for _, t in dev_sents])
        out.append({"c1": c1, "c2": c2, "dev_fold": dev_fold, "f1": round(f1, 4),
                    "seconds": round(time.time() - t0, 1)})
        print(json.dumps(out[-1]), flush=True)
    return out


def train(train_path: Path, model_path: Path = DEFAULT_MODEL_PATH, rebuild_gazetteers: bool = True,
          use_gazetteers: bool = DEFAULT_FEATURES["gazetteers"],
          use_clusters: bool = DEFAULT_FEATURES["clusters"],
          use_lexicon: bool = DEFAULT_FEATURES["lexicon"],
          use_vectors: bool = DEFAULT_FEATURES["vectors"],
          use_doc: bool = DEFAULT_FEATURES["doc"],
          use_parts: bool = DEFAULT_FEATURES["parts"], **hyper) -> dict:
    """Train on every sentence of ``train_path`` and save the model; returns a report.

    ``hyper``: ``c1``, ``c2``, ``max_iterations`` (defaults :data:`DEFAULT_HYPER`, tuned on a
    held-out sixth of train), ``min_freq``.
    """
    t0 = time.time()
    if rebuild_gazetteers and use_gazetteers and DEFAULT_DATA_DIR.is_dir():
        gaz_build.save(gaz_build.build())
    params = {**DEFAULT_HYPER, **hyper}
    res = load_resources(use_gazetteers, use_clusters, use_lexicon, use_vectors, use_doc,
                         use_parts)
    sents = read_conll(train_path)
    lexicon_path = Path(model_path).with_name(Path(model_path).stem + "-lexicon.tsv")
    if use_lexicon:
        xs = featurize_jackknife(sents, res)
        lexicon_mod.save_lexicon(*lexicon_mod.lexicon_from_sentences(sents), path=lexicon_path)
    else:
        xs = featurize([w for w, _ in sents], res)
        lexicon_path.unlink(missing_ok=True)
    ys = [t for _, t in sents]
    _fit(xs, ys, Path(model_path), params["c1"], params["c2"], params["max_iterations"],
         params.get("min_freq", 0))
    config = {"gazetteers": use_gazetteers, "clusters": use_clusters, "vectors": use_vectors,
              "doc": use_doc, "lexicon": use_lexicon, "parts": use_parts, **params}
    config_path(Path(model_path)).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return {"model": str(model_path), "sentences": len(sents), "tokens": sum(len(s) for s in ys),
            **config, "gazetteer_entries": len(res["gaz"]), "cluster_words": len(res["clusters"]),
            "size_bytes": Path(model_path).stat().st_size, "seconds": round(time.time() - t0, 1)}


def config_path(model_path: Path) -> Path:
    """Feature switches saved beside a model: ``<model stem>.json``."""
    return model_path.with_suffix(".json")


def train_main(train_path: Path, out: Path | None = None) -> dict:
    """CLI hook: train with the tuned defaults, write ``out`` (default: the shipped model path)."""
    report = train(Path(train_path), Path(out) if out else DEFAULT_MODEL_PATH)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return report


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train_path", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--tune", action="store_true", help="grid-search c1/c2 on a held-out sixth")
    ap.add_argument("--grid", default="0.05:0.01,0.05:0.05,0.1:0.01,0.2:0.01,0.01:0.1")
    ap.add_argument("--dev-fold", type=int, default=5, help="held-out sixth of train for --tune")
    ap.add_argument("--c1", type=float, default=DEFAULT_HYPER["c1"])
    ap.add_argument("--c2", type=float, default=DEFAULT_HYPER["c2"])
    ap.add_argument("--max-iterations", type=int, default=DEFAULT_HYPER["max_iterations"])
    for name, default in DEFAULT_FEATURES.items():
        ap.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=default,
                        help=f"{name} features (default: {'on' if default else 'off'})")
    args = ap.parse_args(argv)
    feats = {name: getattr(args, name) for name in DEFAULT_FEATURES}
    if args.tune:
        grid = [tuple(float(v) for v in g.split(":")) for g in args.grid.split(",")]
        tune(args.train_path, grid, args.max_iterations,
             load_resources(feats["gazetteers"], feats["clusters"], feats["lexicon"],
                            feats["vectors"], feats["doc"], feats["parts"]),
             dev_fold=args.dev_fold)
        return
    rep = train(args.train_path, args.out or DEFAULT_MODEL_PATH,
                **{f"use_{k}": v for k, v in feats.items()},
                c1=args.c1, c2=args.c2, max_iterations=args.max_iterations)
    print(json.dumps(rep, ensure_ascii=False, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()

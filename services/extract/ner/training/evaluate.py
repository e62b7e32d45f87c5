"""Entity-level evaluation of a recognizer on "word TAG" gold data (seqeval, conlleval-style).

Command (from the repository root)::

    python -m services.extract.ner.training.evaluate ../shared/data/ner/anercorp_camel_rebuilt/test.txt
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from services.extract.ner.training.corpora import read_conll


def _tags_from_entities(recognizer, words: Sequence[str]) -> list[str]:
    """Fallback for recognizers without ``tag_tokens``: join words with spaces, map entities back."""
    text, starts = "", []
    for w in words:
        starts.append(len(text))
        text += w + " "
    tags = ["O"] * len(words)
    for ent in recognizer.recognize_batch([text])[0]:
        idx = [i for i, s in enumerate(starts) if ent.start <= s < ent.end]
        for k, i in enumerate(idx):
            tags[i] = ("B-" if k == 0 else "I-") + ent.label
    return tags


def evaluate(recognizer, gold_path: Path, fold: int | None = None) -> dict:
    """Micro and per-label precision/recall/F1 of ``recognizer`` on ``gold_path``.

    Uses ``recognizer.tag_tokens`` on the gold words when available, else ``recognize_batch``.
    ``fold``: only the k-th contiguous sixth of the file (the held-out part of ``neural_train
    --dev-fold k``).
    """
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    sents = read_conll(Path(gold_path))
    if fold is not None:
        sents = sents[len(sents) * fold // 6 : len(sents) * (fold + 1) // 6]
    words = [w for w, _ in sents]
    gold = [t for _, t in sents]
    t0 = time.perf_counter()
    if hasattr(recognizer, "tag_tokens"):
        pred = recognizer.tag_tokens(words)
    else:
        pred = [_tags_from_entities(recognizer, w) for w in words]
    seconds = time.perf_counter() - t0
    tokens = sum(len(w) for w in words)
    rep = classification_report(gold, pred, output_dict=True, zero_division=0)
    per_label = {
        k: {"precision": float(v["precision"]), "recall": float(v["recall"]),
            "f1": float(v["f1-score"]), "support": int(v["support"])}
        for k, v in sorted(rep.items()) if not k.endswith(" avg")
    }
    return {
        "micro": {"precision": float(precision_score(gold, pred, zero_division=0)),
                  "recall": float(recall_score(gold, pred, zero_division=0)),
                  "f1": float(f1_score(gold, pred, zero_division=0))},
        "per_label": per_label,
        "tokens_per_second": tokens / seconds if seconds > 0 else float("inf"),
        "sentences": len(sents),
        "tokens": tokens,
    }


def load_recognizer(name: str = "bilstm", model: Path | None = None, propagate: bool = True):
    """The recognizer ``name`` (``crf``, ``bilstm``, or any name :func:`get_recognizer` knows),
    from ``model`` when given; ``propagate``: the BiLSTM's document propagation."""
    if name == "bilstm":
        from services.extract.ner.neural import NeuralRecognizer

        return NeuralRecognizer(model, propagate=propagate)
    if name == "crf":
        from services.extract.ner.crf import CrfRecognizer

        return CrfRecognizer(model) if model else CrfRecognizer()
    from services.extract.recognize import get_recognizer
    from shared.settings import Settings

    model_dir = model or Settings().ner_model_dir
    return get_recognizer(name, model_dir=str(model_dir) if model_dir else None)


def eval_main(gold: Path, as_json: bool = False, model: Path | None = None,
              recognizer: str = "bilstm", fold: int | None = None, propagate: bool = True) -> int:
    """CLI hook: evaluate an offline recognizer (default the BiLSTM-CRF) on ``gold`` (its sixth
    ``fold`` only, when given); print a rich table or JSON. Returns 0."""
    result = evaluate(load_recognizer(recognizer, model, propagate), Path(gold), fold)
    result["recognizer"] = recognizer
    if as_json:
        print(json.dumps(result, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"NER on {gold} ({result['sentences']} sentences, {result['tokens']} tokens)")
    for col in ("label", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, m in result["per_label"].items():
        table.add_row(label, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}",
                      str(m["support"]))
    mi = result["micro"]
    table.add_row("micro", f"{mi['precision']:.4f}", f"{mi['recall']:.4f}", f"{mi['f1']:.4f}",
                  str(sum(m["support"] for m in result["per_label"].values())), style="bold")
    console = Console()
    console.print(table)
    console.print(f"{result['tokens_per_second']:.0f} tokens/s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gold", type=Path)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--recognizer", choices=("crf", "bilstm"), default="bilstm")
    ap.add_argument("--fold", type=int, default=None,
                    help="only the k-th sixth of GOLD (the held-out part of neural_train --dev-fold k)")
    ap.add_argument("--no-propagate", action="store_true", help="BiLSTM without document propagation")
    args = ap.parse_args(argv)
    return eval_main(args.gold, args.json, args.model, args.recognizer, args.fold, not args.no_propagate)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""Throughput of an offline recognizer (default the CRF; ``--recognizer bilstm``): articles/second
of ``recognize_batch`` (one worker).

    python bench/bench_extract.py [--limit 500] [--batch 32]

Reads bodies from ``../shared/data/news/ant-2k.jsonl`` (skips when the corpus is absent).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "news" / "ant-2k.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description="CrfRecognizer throughput")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--recognizer", choices=("crf", "bilstm"), default="crf",
                    help="offline recognizer to measure (bilstm: services.extract.ner.neural)")
    args = ap.parse_args()
    if not args.corpus.exists():
        print(f"skip: {args.corpus} not found")
        return 0
    from services.extract.ner.evaluate import load_recognizer

    with args.corpus.open(encoding="utf-8") as fh:
        bodies = [json.loads(line)["body"] for _, line in zip(range(args.limit), fh)]
    t0 = time.perf_counter()
    rec = load_recognizer(args.recognizer)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_ent = 0
    for i in range(0, len(bodies), args.batch):
        n_ent += sum(len(e) for e in rec.recognize_batch(bodies[i : i + args.batch]))
    secs = time.perf_counter() - t0
    chars = sum(len(b) for b in bodies)
    print(f"articles            {len(bodies)}")
    print(f"model load s        {load_s:.2f}")
    print(f"seconds             {secs:.2f}")
    print(f"articles/s          {len(bodies) / secs:.1f}")
    print(f"chars/s             {chars / secs:.0f}")
    print(f"entities/article    {n_ent / len(bodies):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

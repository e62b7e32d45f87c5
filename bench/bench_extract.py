"""Throughput of the extract stage with an offline recognizer, one worker (one process).

    python bench/bench_extract.py [--recognizer bilstm|crf] [--limit 2000] [--batch 32]
                                  [--recognizer-only] [--model FILE.npz] [--warmup N]

Reads ``../shared/data/news/ant-2k.jsonl`` (skips when the corpus is absent), turns each line
into stories with the ingest gate and the normalizer (not timed), then times what one extract
worker does per batch of 32 (the agent's batch size): ``Extractor.extract_batch`` — entity
recognition, canonical keys, place linking and date resolution. ``--recognizer-only`` times
``recognize_batch`` on the bodies alone. ``--model`` times the BiLSTM recognizer with that model file
(e.g. one with character-LM features) instead of the shipped one. Prints articles/s, characters/s and CPU seconds
(``time.process_time``, steadier than wall time on a busy machine).

``--warmup N`` first runs the worker, untimed, over N other articles of
``../shared/data/news/ant-20k.jsonl.gz`` (lines 5, 15, 25, …: none of them in ``ant-2k``, which is
every tenth line from the first), so the timed articles meet a worker in its steady state: the
per-word tables a long-running worker has filled (features, character CNN, input projections)
instead of empty ones. Without it the figure is a worker's first articles after its start.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "news" / "ant-2k.jsonl"
WARMUP_CORPUS = ROOT.parent / "shared" / "data" / "news" / "ant-20k.jsonl.gz"


def warmup_lines(path: Path, n: int, exclude_ids: set) -> list[str]:
    """Up to ``n`` lines of the gzip JSONL ``path`` at positions 5, 15, 25, … whose ``id`` is not
    in ``exclude_ids`` (the timed articles)."""
    out: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if len(out) >= n:
                break
            if i % 10 == 5 and json.loads(line).get("id") not in exclude_ids:
                out.append(line)
    return out


def main() -> int:
    from shared.settings import Settings

    ap = argparse.ArgumentParser(description="extract-stage throughput (articles/s, one worker)")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--recognizer", choices=("crf", "bilstm"), default=None,
                    help="offline recognizer (default: HADATH_RECOGNIZER / the settings default)")
    ap.add_argument("--recognizer-only", action="store_true",
                    help="time recognize_batch on the bodies only (no places, dates, keys)")
    ap.add_argument("--model", type=Path, default=None,
                    help="BiLSTM model file (default: the shipped model/anercorp-bilstm.npz)")
    ap.add_argument("--warmup", type=int, default=0,
                    help="first run N other articles untimed (a worker in its steady state)")
    args = ap.parse_args()
    if not args.corpus.exists():
        print(f"skip: {args.corpus} not found")
        return 0
    from services.extract.extract import Extractor
    from services.ingest.gate import process_raw
    from services.normalize.normalize import normalize_article

    name = args.recognizer or Settings().recognizer
    now = datetime.now(UTC)
    with args.corpus.open(encoding="utf-8") as fh:
        lines = [line for _, line in zip(range(args.limit), fh)]
    stories = [normalize_article(a) for line in lines for a in process_raw(line.encode(), ingested_at=now)]
    t0 = time.perf_counter()
    if args.model is not None:
        from services.extract.ner.neural import NeuralRecognizer

        name = f"bilstm ({args.model})"
        extractor = Extractor(NeuralRecognizer(args.model))
    else:
        extractor = Extractor(name)
    load_s = time.perf_counter() - t0
    warmed = 0
    if args.warmup:
        if not WARMUP_CORPUS.exists():
            print(f"skip: {WARMUP_CORPUS} not found (needed by --warmup)")
            return 0
        ids = {json.loads(line).get("id") for line in lines}
        warm = [normalize_article(a) for line in warmup_lines(WARMUP_CORPUS, args.warmup, ids)
                for a in process_raw(line.encode(), ingested_at=now)]
        for i in range(0, len(warm), args.batch):
            extractor.extract_batch(warm[i : i + args.batch])
        warmed = len(warm)
    n_ent = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(stories), args.batch):
        batch = stories[i : i + args.batch]
        if args.recognizer_only:
            n_ent += sum(len(e) for e in extractor.recognizer.recognize_batch([s.body for s in batch]))
        else:
            n_ent += sum(len(a.entities) for a in extractor.extract_batch(batch))
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    chars = sum(len(s.body) for s in stories)
    print(f"recognizer          {name}")
    print(f"timed               {'recognize_batch' if args.recognizer_only else 'extract_batch (whole stage)'}")
    print(f"articles            {len(stories)} (from {len(lines)} lines)")
    print(f"model load s        {load_s:.2f}")
    print(f"warm-up articles    {warmed} (untimed, before the timed ones)")
    print(f"seconds             {secs:.2f}")
    print(f"cpu seconds         {cpu:.2f}")
    print(f"articles/s          {len(stories) / secs:.1f}")
    print(f"articles/cpu-s      {len(stories) / cpu:.1f}")
    print(f"chars/s             {chars / secs:.0f}")
    print(f"entities/article    {n_ent / len(stories):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

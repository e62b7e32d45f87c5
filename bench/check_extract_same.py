"""Does the extract stage still give the same entities? Old and new runs compared exactly.

    python bench/check_extract_same.py save  OUT.jsonl [--limit 2000] [--batch 32]
    python bench/check_extract_same.py compare REF.jsonl [--limit 2000] [--batch 32]

Reads ``../shared/data/news/ant-2k.jsonl`` (skips when absent), turns each line into stories with
the ingest gate and the normalizer in-process (as ``bench/bench_extract.py`` does) and runs
``Extractor.extract_batch`` over batches of 32. ``save`` writes, one JSON line per article, its
entities as ``[text, label, start, end, normalized]`` plus its places, dates and topic (run it on
the old code, the file stays outside the repository); ``compare`` runs the current code and
prints how many articles differ in their entities (exactly: text, label, start, end,
normalized), in their entity scores, places, dates or topic. Exit status 1 when any entity
differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "news" / "ant-2k.jsonl"


def run(corpus: Path, limit: int, batch: int) -> list[dict]:
    """One record per story: ``entities`` ``[[text, label, start, end, normalized], ...]``,
    ``scores``, ``places``, ``dates`` and ``topic`` (JSON-ready)."""
    from services.extract.extract import Extractor
    from services.ingest.gate import process_raw
    from services.normalize.normalize import normalize_article

    now = datetime(2024, 1, 1, tzinfo=UTC)
    with corpus.open(encoding="utf-8") as fh:
        lines = [line for _, line in zip(range(limit), fh)]
    stories = [normalize_article(a) for line in lines for a in process_raw(line.encode(), ingested_at=now)]
    extractor = Extractor("bilstm")
    out = []
    for i in range(0, len(stories), batch):
        for a in extractor.extract_batch(stories[i : i + batch]):
            out.append({
                "id": a.article_id,
                "entities": [[e.text, e.label, e.start, e.end, e.normalized] for e in a.entities],
                "scores": [e.score for e in a.entities],
                "places": [p.model_dump(mode="json") for p in a.places],
                "dates": [d.model_dump(mode="json") for d in a.dates],
                "topic": a.topic,
            })
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="compare extract outputs with a saved run")
    ap.add_argument("mode", choices=("save", "compare"))
    ap.add_argument("path", type=Path)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    if not args.corpus.exists():
        print(f"skip: {args.corpus} not found")
        return 0
    records = run(args.corpus, args.limit, args.batch)
    if args.mode == "save":
        with args.path.open("w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"saved {len(records)} articles to {args.path}")
        return 0
    with args.path.open(encoding="utf-8") as fh:
        ref = [json.loads(line) for line in fh]
    if len(ref) != len(records):
        print(f"different number of articles: {len(ref)} saved, {len(records)} now")
        return 1
    diff = {k: 0 for k in ("entities", "scores", "places", "dates", "topic")}
    max_score = 0.0
    shown = 0
    for old, new in zip(ref, records, strict=True):
        for k in diff:
            if old[k] != new[k]:
                diff[k] += 1
        if old["entities"] == new["entities"]:
            max_score = max([max_score, *(abs(a - b) for a, b in zip(old["scores"], new["scores"]) if a is not None and b is not None)])
        elif shown < 5:
            shown += 1
            o = {tuple(e) for e in old["entities"]}
            n = {tuple(e) for e in new["entities"]}
            print(f"{old['id']}: only old {sorted(o - n)[:5]}  only new {sorted(n - o)[:5]}")
    print(f"articles compared            {len(records)}")
    for k, v in diff.items():
        print(f"articles differing in {k:8s} {v}")
    print(f"largest score difference     {max_score:.4g} (articles with the same entities)")
    return 1 if diff["entities"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

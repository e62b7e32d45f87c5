"""Event assignment measured through the live pipeline: the events dev set fed into an isolated
pipeline on the real Kafka and Elasticsearch (all five services as processes), then B-cubed
precision, recall and F1 of the ``event_id`` the article documents carry, the look-alike pairs
merged, and the consistency of the event documents.

    .venv/bin/hadath infra up
    .venv/bin/python bench/bench_events_live.py [--dev PATH]

Only each line's ``id/source/url/title/body/published_at`` is sent (the gold fields never reach
the pipeline), in the file's order. Skips with a message when ``../shared`` is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_events import DEV, RAW_FIELDS, bcubed, lookalike_merges  # noqa: E402
from hadath import infra  # noqa: E402
from hadath.sandbox import cleanup, start  # noqa: E402
from shared.settings import Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=DEV)
    args = parser.parse_args()
    if not args.dev.exists():
        print(f"skipped: {args.dev} is absent")
        return 0
    rows = [json.loads(line) for line in args.dev.open(encoding="utf-8")]
    infra.up(Settings(), progress=lambda *_: None)
    pipe = start(1)
    try:
        t0 = time.monotonic()
        pipe.send_raw(*(json.dumps({k: r[k] for k in RAW_FIELDS if r.get(k) is not None},
                                   ensure_ascii=False).encode() for r in rows))
        pipe.wait(timeout_seconds=900)
        wall = time.monotonic() - t0
        docs = pipe.docs()
        by_url: dict[str, dict] = {}
        for d in docs:
            by_url.setdefault(d["url"], d)
        pred, gold, negative_of = {}, {}, {}
        missing = []
        for r in rows:
            d = by_url.get(r["url"])
            if d is None:
                missing.append(r["id"])
                continue
            pred[r["id"]], gold[r["id"]] = d["event_id"], r["event"]
            if r.get("hard_negative_of"):
                negative_of[r["event"]] = r["hard_negative_of"]
        p, rc, f = bcubed(pred, gold)
        events = pipe.events()
        counts = Counter(d["event_id"] for d in docs)
        consistent = all(e["article_count"] == counts.get(e["event_id"], 0) for e in events) and \
            set(counts) <= {e["event_id"] for e in events}
        print(f"dev: {len(rows)} lines sent, {len(docs)} article documents, {len(missing)} not found "
              f"{missing[:5]}, dead letters: {len(pipe.dead_letters())}, {wall:.1f} s feed → indexed")
        print(f"live pipeline: P={p:.3f} R={rc:.3f} F1={f:.3f} "
              f"look-alike pairs merged={lookalike_merges(pred, gold, negative_of)}")
        print(f"events: {len(events)} (gold {len(set(gold.values()))}); event documents consistent with "
              f"article documents: {consistent}")
        members: dict[str, list[str]] = {}
        for rid, eid in pred.items():
            members.setdefault(eid, []).append(rid)
        for eid, rids in sorted(members.items(), key=lambda kv: min(kv[1])):
            if len({gold[r] for r in rids}) > 1:
                print(f"  mixed event {eid}: {' '.join(sorted(rids))}")
        by_gold: dict[str, dict[str, list[str]]] = {}
        for rid, eid in pred.items():
            by_gold.setdefault(gold[rid], {}).setdefault(eid, []).append(rid)
        for g, parts in sorted(by_gold.items()):
            if len(parts) > 1:
                print(f"  split {g}: " + " | ".join(" ".join(sorted(r)) for r in sorted(parts.values())))
    finally:
        cleanup(pipe.settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

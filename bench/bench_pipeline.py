"""End-to-end throughput: feed a JSON Lines file through an isolated pipeline on the real
Kafka and Elasticsearch and print wall time and articles per second.

    .venv/bin/hadath infra up
    .venv/bin/python bench/bench_pipeline.py [FILE] [--extract-workers N] [--limit N] [--compare-events]

FILE defaults to ``../shared/data/news/ant-2k.jsonl`` (skips with a message when absent).
``--show-events N`` prints the N largest events with their articles. ``--compare-events`` runs the file twice in one go, first with the events stage as a
pass-through (``HADATH_EVENTS_ASSIGN=false``: no clustering, no event documents; the same five
services and topics), then with event assignment, and prints both rates and the cost of
assignment in percent. ``--limit`` feeds only the first N lines (a temporary copy).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hadath import infra  # noqa: E402
from hadath.sandbox import cleanup, start  # noqa: E402
from shared.settings import Settings  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "news" / "ant-2k.jsonl"


def show_events(pipe, n: int) -> None:
    """The ``n`` largest events with their articles' day, outlet and title (to read)."""
    resp = pipe.es.search(index=pipe.settings.events_alias, size=n, sort=[{"article_count": "desc"}],
                          query={"bool": {"must_not": [{"exists": {"field": "merged_into"}}]}},
                          source=["event_id", "title", "article_count", "source_count", "event_date"])
    for hit in resp["hits"]["hits"]:
        e = hit["_source"]
        print(f"  - {e['event_id']} {e['article_count']} articles, {e['source_count']} outlets, "
              f"stated day {e.get('event_date')}: {(e.get('title') or '')[:80]}")
        arts = pipe.es.search(index=pipe.settings.index_alias, size=6, query={"term": {"event_id": e["event_id"]}},
                              source=["published_at", "source", "title"], sort=[{"published_at": "asc"}])
        for a in arts["hits"]["hits"]:
            d = a["_source"]
            print(f"      {(d.get('published_at') or '?')[:10]} {d.get('source')}: {(d.get('title') or '')[:80]}")


def run(path: Path, extract_workers: int, *, assign: bool, show: int = 0) -> float:
    """One isolated run; returns articles per second (feed start → all indexed)."""
    label = "with event assignment" if assign else "events stage as a pass-through"
    started_services = time.monotonic()
    pipe = start(extract_workers, events_assign=assign)
    try:
        print(f"[{label}] services up in {time.monotonic() - started_services:.1f} s")
        t0 = time.monotonic()
        report = pipe.feed(path)
        fed = time.monotonic() - t0
        pipe.wait(timeout_seconds=3600)
        wall = time.monotonic() - t0
        count = pipe.count()
        print(f"[{label}] sent: {report.sent}  refused: {report.refused}  feed time: {fed:.1f} s")
        print(f"[{label}] indexed documents: {count}  dead letters: {len(pipe.dead_letters())}")
        if assign:
            events = pipe.events()
            sizes = Counter(e["article_count"] for e in events)
            print(f"[{label}] events: {len(events)}  sizes: "
                  + ", ".join(f"{k}×{v}" for k, v in sorted(sizes.items())))
            if show:
                show_events(pipe, show)
        print(f"[{label}] wall time (feed start → all indexed): {wall:.1f} s")
        rate = count / wall
        print(f"[{label}] throughput: {rate:.1f} articles/s with {extract_workers} extract worker(s)")
        return rate
    finally:
        cleanup(pipe.settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--extract-workers", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--compare-events", action="store_true")
    parser.add_argument("--show-events", type=int, default=0, help="print the N largest events to read")
    args = parser.parse_args()
    if not args.file.exists():
        print(f"skipped: {args.file} is absent")
        return 0
    infra.up(Settings(), progress=lambda *_: None)
    path = args.file
    with tempfile.TemporaryDirectory() as tmp:
        if args.limit:
            path = Path(tmp) / f"first-{args.limit}.jsonl"
            opener = gzip.open if args.file.suffix == ".gz" else open
            with opener(args.file, "rt", encoding="utf-8") as src:
                path.write_text("".join(itertools.islice(src, args.limit)), encoding="utf-8")
        print(f"file: {args.file}" + (f" (first {args.limit} lines)" if args.limit else ""))
        if args.compare_events:
            without = run(path, args.extract_workers, assign=False)
            with_events = run(path, args.extract_workers, assign=True, show=args.show_events)
            print(f"event assignment costs {100 * (1 - with_events / without):.1f} % of the throughput "
                  f"({without:.1f} → {with_events:.1f} articles/s)")
        else:
            run(path, args.extract_workers, assign=True, show=args.show_events)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

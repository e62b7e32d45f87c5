"""End-to-end throughput: feed a JSON Lines file through an isolated pipeline on the real
Kafka and Elasticsearch and print wall time and articles per second.

    .venv/bin/hadath infra up
    .venv/bin/python bench/bench_pipeline.py [FILE] [--extract-workers N]

FILE defaults to ``../shared/data/news/ant-2k.jsonl`` (skips with a message when absent).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import infra  # noqa: E402
from hadath.sandbox import cleanup, start  # noqa: E402
from shared.settings import Settings  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "news" / "ant-2k.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--extract-workers", type=int, default=1)
    args = parser.parse_args()
    if not args.file.exists():
        print(f"skipped: {args.file} is absent")
        return 0
    infra.up(Settings(), progress=lambda *_: None)
    started_services = time.monotonic()
    pipe = start(args.extract_workers)
    try:
        print(f"services up in {time.monotonic() - started_services:.1f} s")
        t0 = time.monotonic()
        report = pipe.feed(args.file)
        fed = time.monotonic() - t0
        pipe.wait(timeout_seconds=3600)
        wall = time.monotonic() - t0
        count = pipe.count()
        print(f"file: {args.file}")
        print(f"sent: {report.sent}  refused: {report.refused}  feed time: {fed:.1f} s")
        print(f"indexed documents: {count}  dead letters: {len(pipe.dead_letters())}")
        print(f"wall time (feed start → all indexed): {wall:.1f} s")
        print(f"throughput: {count / wall:.1f} articles/s with {args.extract_workers} extract worker(s)")
    finally:
        cleanup(pipe.settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

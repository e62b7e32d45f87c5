"""End-to-end throughput, latency and memory of the pipeline on the real Kafka and
Elasticsearch, and the bare extract stage on one core, in one run (what issue #12 asks for):

    .venv/bin/hadath infra up
    .venv/bin/python bench/bench_pipeline.py [FILE] [--extract-workers N] [--limit N]
        [--latency-articles 200] [--rate 20] [--bare-limit 1000] [--compare-events]

FILE defaults to ``../shared/data/news/ant-2k.jsonl`` (skips with a message when absent).
It prints, in order:

1. the bare extract stage (``bench/bench_extract.py --limit N`` in a child process with BLAS on
   one thread): articles per CPU-second and per second, for a fresh worker and for one in its
   steady state (``--warmup 2000``: 2,000 other articles first, untimed);
2. end to end on an isolated pipeline (its own topics, groups and index; the five services and
   the search page as real processes): articles/s from the feed's start until all are indexed,
   and its ratio to the bare stage's articles per CPU-second;
3. latency: ``--latency-articles`` articles (the file's first ones, each with its own URL and a
   line that makes it new) sent with kafka-python straight to ``articles.raw`` at an even
   ``--rate`` per second; per article the time from its send until a search of the index
   (polled every 250 ms) first finds it: p50, p95, max;
   Then each process's CPU milliseconds per article over that run (utime + stime from
   ``/proc``, with its children: the services, Kafka, Elasticsearch and this feeder), which
   tells where the cores go;
4. each service's resident memory (``VmRSS``, and the peak ``VmHWM``, from ``/proc``) after
   the runs, with the goals (ingest, normalize, index ≤ 300 MB; extract ≤ 600 MB a worker).

``--show-events N`` prints the N largest events with their articles. ``--compare-events`` runs
the file twice in one go, first with the events stage as a pass-through
(``HADATH_EVENTS_ASSIGN=false``: no clustering, no event documents; the same five services and
topics), then with event assignment, and prints both rates and the cost of assignment in
percent (no latency or memory then). ``--limit`` feeds only the first N lines (a temporary copy).
Wall-clock figures depend on what else runs on the machine: say how loaded it was.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hadath import infra, processes  # noqa: E402
from hadath.pids import read_pid, tree_cpu_seconds  # noqa: E402
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


ROOT = Path(__file__).resolve().parents[1]
STEADY_WARMUP = 2000  # articles a worker has processed before the steady-state extract figure
MEMORY_GOALS_MB = {"ingest": 300, "normalize": 300, "index": 300, "extract": 600}


def bare_extract(path: Path, limit: int, warmup: int = 0) -> dict[str, float]:
    """``bench/bench_extract.py`` on the first ``limit`` lines of ``path`` in a child process with
    BLAS on one thread, after ``warmup`` other articles untimed (its ``--warmup``):
    ``{"articles/cpu-s": …, "articles/s": …}`` (empty when it skipped)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_extract.py"), "--corpus", str(path),
                          "--limit", str(limit), "--warmup", str(warmup)],
                         env=env, capture_output=True, text=True, check=True).stdout
    figures = {}
    for line in out.splitlines():
        name, _, value = line.rpartition(" ")
        if name.strip() in ("articles/cpu-s", "articles/s"):
            figures[name.strip()] = float(value)
    return figures


def rss_mb(pid: int) -> tuple[float, float]:
    """``(VmRSS, VmHWM)`` of a process in MB (10^6 bytes), from ``/proc/PID/status``.

    Raises:
        OSError: the process is gone (or no ``/proc``)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024 / 1e6  # kB
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def memory(pipe) -> None:
    """Print each running service's resident memory (and peak) with its goal."""
    print("resident memory (MB, now / peak; goal):")
    for name, st in sorted(processes.status(pipe.settings).items()):
        if not st["running"]:
            print(f"  {name:10s} not running")
            continue
        now, peak = rss_mb(st["pid"])
        goal = MEMORY_GOALS_MB.get(name.split("-")[0])
        verdict = "" if goal is None else f"; goal ≤ {goal} {'met' if peak <= goal else 'NOT met'}"
        print(f"  {name:10s} {now:6.0f} / {peak:6.0f}{verdict}")


def latency(pipe, path: Path, n: int, rate: float) -> list[float]:
    """Send ``n`` new articles (the first lines of ``path``, each with a URL of its own and a
    line that makes its text new) straight to ``articles.raw`` at an even ``rate`` per second;
    return, per article, the seconds from its send until a search of the index first finds
    it (polled every 250 ms; articles not found within 60 s after the last send are left out)."""
    from kafka import KafkaProducer

    tag = pipe.settings.group_prefix
    with path.open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in itertools.islice(fh, n)]
    urls = [f"https://bench.hadath.invalid/latency/{tag}/{i}" for i in range(len(records))]
    for i, (rec, url) in enumerate(zip(records, urls, strict=True)):
        rec["url"] = url
        rec.pop("id", None)
        rec["body"] = f"{rec.get('body') or ''}\n\nنشرة القياس رقم {i}"
    sent: dict[str, float] = {}
    found: dict[str, float] = {}
    done = threading.Event()

    def poll() -> None:
        es, alias = pipe.es, pipe.settings.index_alias
        while not done.is_set() or len(found) < len(sent):
            waiting = [u for u in list(sent) if u not in found]
            if waiting:
                resp = es.search(index=alias, size=len(waiting), source=["url"],
                                 query={"terms": {"url": waiting}})
                now = time.monotonic()
                for hit in resp["hits"]["hits"]:
                    found.setdefault(hit["_source"]["url"], now)
            if done.is_set() and time.monotonic() - done.t_end > 60:  # type: ignore[attr-defined]
                break
            time.sleep(0.25)

    producer = KafkaProducer(bootstrap_servers=pipe.settings.kafka_bootstrap, acks="all", linger_ms=0)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    t0 = time.monotonic()
    for i, (rec, url) in enumerate(zip(records, urls, strict=True)):
        time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        producer.send(pipe.topics.raw, value=json.dumps(rec, ensure_ascii=False).encode())
        producer.flush()
        sent[url] = time.monotonic()
    done.t_end = time.monotonic()  # type: ignore[attr-defined]
    done.set()
    poller.join()
    producer.close()
    return sorted(found[u] - sent[u] for u in found)


def cpu_pids(pipe) -> dict[str, int]:
    """``{name: pid}`` of the processes whose CPU an end-to-end run spends: every service of
    ``pipe`` and the local Kafka and Elasticsearch servers (absent when they are not ours)."""
    pids = {name: st["pid"] for name, st in processes.status(pipe.settings).items() if st["running"]}
    lay = infra.layout(pipe.settings)
    for server in ("kafka", "elasticsearch"):
        pid = read_pid(lay.pid_file(server))
        if pid:
            pids[server] = pid
    return pids


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process in ``pids`` (with its descendants) and of this
    process (``feeder``: the feed and the polling)."""
    seconds = tree_cpu_seconds(list(pids.values()))
    return {**{name: seconds[pid] for name, pid in pids.items()}, "feeder": time.process_time()}


def print_cpu(label: str, before: dict[str, float], after: dict[str, float], articles: int, wall: float) -> None:
    """Each process's CPU milliseconds per article between two snapshots, its share, and the
    articles/s the machine's cores could give at that cost (all of them busy, nothing else)."""
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    total = sum(used.values())
    cores = os.cpu_count() or 1
    print(f"[{label}] CPU per article (ms; utime+stime of each process and its children, "
          f"{articles} articles, {wall:.1f} s):")
    for name, sec in sorted(used.items(), key=lambda kv: -kv[1]):
        print(f"  {name:14s} {1000 * sec / max(articles, 1):7.1f} ms  {100 * sec / max(total, 1e-9):5.1f} %")
    per = total / max(articles, 1)
    print(f"  {'all':14s} {1000 * per:7.1f} ms  -> at most {cores / per if per else 0:.0f} articles/s "
          f"on {cores} cores; used {total / max(wall, 1e-9):.2f} of {cores} cores")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(path: Path, extract_workers: int, *, assign: bool, show: int = 0, bare: dict | None = None,
        latency_articles: int = 0, rate: float = 20.0) -> float:
    """One isolated run; returns articles per second (feed start → all indexed). With
    ``latency_articles``, then the latency at ``rate`` and each service's memory (the search
    page runs too, on a free port)."""
    label = "with event assignment" if assign else "events stage as a pass-through"
    started_services = time.monotonic()
    pipe = start(extract_workers, events_assign=assign, web_port=free_port())
    try:
        if latency_articles:
            processes.up(pipe.settings, extract_workers=extract_workers, web=True, progress=lambda *_: None)
        print(f"[{label}] services up in {time.monotonic() - started_services:.1f} s")
        pids = cpu_pids(pipe)
        cpu0 = cpu_snapshot(pids)
        t0 = time.monotonic()
        report = pipe.feed(path)
        fed = time.monotonic() - t0
        pipe.wait(timeout_seconds=3600)
        wall = time.monotonic() - t0
        cpu1 = cpu_snapshot(pids)
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
        throughput = count / wall
        print(f"[{label}] throughput: {throughput:.1f} articles/s with {extract_workers} extract worker(s)")
        print_cpu(label, cpu0, cpu1, count, wall)
        if bare and bare.get("articles/cpu-s"):
            print(f"[{label}] end to end / bare extract on one core: "
                  f"{throughput / bare['articles/cpu-s']:.2f} ({throughput:.1f} / {bare['articles/cpu-s']:.1f})")
        if latency_articles:
            lat = latency(pipe, path, latency_articles, rate)
            if lat:
                pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
                print(f"[{label}] latency send → searchable at {rate:g} articles/s, {len(lat)} of "
                      f"{latency_articles} found: p50 {pick(0.5):.2f} s  p95 {pick(0.95):.2f} s  max {lat[-1]:.2f} s")
            else:
                print(f"[{label}] latency: none of the {latency_articles} articles became searchable")
            memory(pipe)
        return throughput
    finally:
        cleanup(pipe.settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--extract-workers", type=int, default=None,
                        help="extract workers (default: as make demo, one per core, at most 4)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--compare-events", action="store_true")
    parser.add_argument("--show-events", type=int, default=0, help="print the N largest events to read")
    parser.add_argument("--latency-articles", type=int, default=200, help="articles sent for the latency (0: none)")
    parser.add_argument("--rate", type=float, default=20.0, help="articles per second for the latency")
    parser.add_argument("--bare-limit", type=int, default=1000, help="articles for the bare extract stage (0: skip)")
    args = parser.parse_args()
    if args.extract_workers is None:
        from hadath.processes import default_extract_workers

        args.extract_workers, cores = default_extract_workers()
        print(f"extract workers: {args.extract_workers} (as make demo: one per core, {cores} cores)")
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
            bare = bare_extract(path, args.bare_limit) if args.bare_limit else {}
            if bare:
                print(f"bare extract stage, one core (BLAS 1 thread, {args.bare_limit} articles), "
                      f"a fresh worker: {bare.get('articles/cpu-s', 0):.1f} articles/cpu-s, "
                      f"{bare.get('articles/s', 0):.1f} articles/s")
                steady = bare_extract(path, args.bare_limit, warmup=STEADY_WARMUP)
                if steady:
                    print(f"bare extract stage, one core, after {STEADY_WARMUP:,} other articles (steady state): "
                          f"{steady.get('articles/cpu-s', 0):.1f} articles/cpu-s, "
                          f"{steady.get('articles/s', 0):.1f} articles/s")
            run(path, args.extract_workers, assign=True, show=args.show_events, bare=bare,
                latency_articles=args.latency_articles, rate=args.rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Event clustering, measured: B-cubed P/R/F1 on the events dev set, look-alike merges, 2-fold
tuning by halves, and the 2k slice (no gold: events, sizes, a sample to read, speed).

    python bench/bench_events.py [--dev PATH] [--orders 4] [--tune] [--slice PATH] [--limit N]

* **dev** (``../shared/cases/events-dev.jsonl``): each line's ``id/source/url/title/body/
  published_at`` (nothing else: the gold fields never reach the pipeline) go through the
  in-process stage handlers — ingest ``make_handler(Settings())``, normalize ``handle``, extract
  ``make_handler(Extractor("bilstm"))`` — then :class:`services.events.cluster.EventClusterer`
  with a fresh in-memory store, in the file's order and in ``--orders`` shuffled orders (seeds
  0..N-1), and in ``--two-worker`` orders as two extract workers deliver a feed
  (:func:`two_worker_orders`). Prints B-cubed precision, recall and F1 (Bagga & Baldwin, "Algorithms for Scoring
  Coreference Chains", 1998: per article, the share of its predicted cluster that is in its gold
  cluster and vice versa, averaged over articles) and the look-alike pairs merged (an article of
  event E and an article marked ``hard_negative_of`` E given one event id).
* **--tune**: the 21 events are split in two halves (each look-alike kept with the event it
  imitates; groups alternate in id order). A small grid of general parameters (word/name
  weights, threshold, day-conflict penalty, decay) is searched on one half — objective: mean F1
  over the orders minus 0.05 per look-alike pair merged — and scored on the other, both ways.
* **slice** (``../shared/data/news/ant-2k.jsonl``, no gold): the same pipeline, then clustering in
  the file's (time) order: number of events, size distribution, the titles of the largest
  multi-article events, and the clustering's own speed (articles/s, features + assignment, one
  process, ``time.process_time``).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEV = ROOT.parent / "shared" / "cases" / "events-dev.jsonl"
SLICE = ROOT.parent / "shared" / "data" / "news" / "ant-2k.jsonl"
RAW_FIELDS = ("id", "source", "url", "title", "body", "published_at")


def bcubed(pred: dict[str, str], gold: dict[str, str]) -> tuple[float, float, float]:
    """B-cubed (precision, recall, F1) of ``pred`` against ``gold`` (item → cluster), over gold's items."""
    by_pred: dict[str, set[str]] = defaultdict(set)
    by_gold: dict[str, set[str]] = defaultdict(set)
    for item in gold:
        by_pred[pred[item]].add(item)
        by_gold[gold[item]].add(item)
    p = r = 0.0
    for item in gold:
        both = len(by_pred[pred[item]] & by_gold[gold[item]])
        p += both / len(by_pred[pred[item]])
        r += both / len(by_gold[gold[item]])
    p, r = p / len(gold), r / len(gold)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def lookalike_merges(pred: dict[str, str], gold: dict[str, str], negative_of: dict[str, str]) -> int:
    """Pairs (article of event E, article of an event marked ``hard_negative_of`` E) with one event id."""
    n = 0
    for a, ga in gold.items():
        target = negative_of.get(ga)
        if target:
            n += sum(1 for b, gb in gold.items() if gb == target and pred[b] == pred[a])
    return n


def enrich(raw_rows: list[dict]) -> list:
    """Raw dicts → ``EnrichedArticle`` objects through the in-process ingest, normalize and
    extract handlers (one output per input expected; a refused row is reported and skipped)."""
    from services.extract.app import make_handler as extract_handler
    from services.extract.extract import Extractor
    from services.ingest.app import make_handler as ingest_handler
    from services.normalize.app import handle as normalize_handle
    from shared.schemas import EnrichedArticle
    from shared.settings import Settings

    raws = [json.dumps({k: r[k] for k in RAW_FIELDS if r.get(k) is not None}, ensure_ascii=False).encode()
            for r in raw_rows]
    ingest = ingest_handler(Settings())
    ingested = []
    for r, out in zip(raw_rows, ingest(raws)):
        if out.error is not None or not out.outputs:
            print(f"  refused by ingest: {r.get('id')}: {out.error}")
            ingested.append(None)
        else:
            ingested.append(out.outputs[0][1])
    good = [v for v in ingested if v is not None]
    normalized = [o.outputs[0][1] for o in normalize_handle(good)]
    extract = extract_handler(Extractor("bilstm"))
    enriched = []
    for i in range(0, len(normalized), 32):
        enriched += [EnrichedArticle.model_validate_json(o.outputs[0][1]) for o in extract(normalized[i:i + 32])]
    it = iter(enriched)
    return [None if v is None else next(it) for v in ingested]


def cluster(features: list, params) -> dict[str, str]:
    """Assign precomputed features in the given order with a fresh store: article id → final event id."""
    from services.events.cluster import EventClusterer, MemoryStore

    c = EventClusterer(MemoryStore(), params)
    for f in features:
        c.add_features(f)
    return {f.article_id: c.store.resolve(c.store.assignment(f.article_id)) for f in features}


def orders_of(features: list, n_shuffled: int) -> list[tuple[str, list]]:
    """The file's order, then ``n_shuffled`` shuffles (``random.Random(seed)``, seeds 0..n-1)."""
    out = [("file", list(features))]
    for seed in range(n_shuffled):
        out.append((f"shuffle{seed}", random.Random(seed).sample(features, len(features))))
    return out


#: Positions one extract worker may run ahead of the other, per step (the random walk's sd).
TWO_WORKER_LAG = 3.0


def two_worker_orders(features: list, n: int, lag: float = TWO_WORKER_LAG) -> list[tuple[str, list]]:
    """``n`` orders as the events stage sees a feed through two extract workers: the articles
    split by their key's hash (as Kafka partitions them) into two streams, each in the feed's
    order, one running ahead of the other by a random walk (``random.Random(seed)``, Gaussian
    steps of ``lag`` positions, never negative), merged by arrival."""
    streams = [[f for f in features if int(hashlib.sha256(f.article_id.encode()).hexdigest(), 16) % 2 == k]
               for k in (0, 1)]
    position = {f.article_id: i for i, f in enumerate(features)}
    out = []
    for seed in range(n):
        rng, arrival = random.Random(seed), {}
        for stream in streams:
            drift = 0.0
            for f in stream:
                drift = max(0.0, drift + rng.gauss(0, lag))
                arrival[f.article_id] = position[f.article_id] + drift
        out.append((f"2workers{seed}", sorted(features, key=lambda f: (arrival[f.article_id], f.article_id))))
    return out


def evaluate(features, gold, negative_of, params, n_orders, orders=None) -> list[tuple[str, float, float, float, int]]:
    """Per order: (name, P, R, F1, look-alike pairs merged); ``orders`` (name, order) pairs, by
    default :func:`orders_of` ``(features, n_orders)``."""
    rows = []
    for name, order in orders if orders is not None else orders_of(features, n_orders):
        pred = cluster(order, params)
        p, r, f = bcubed(pred, gold)
        rows.append((name, p, r, f, lookalike_merges(pred, gold, negative_of)))
    return rows


def halves(gold_events: list[str], negative_of: dict[str, str]) -> tuple[set[str], set[str]]:
    """Two halves of the events; a look-alike stays with the event it imitates."""
    groups: dict[str, set[str]] = defaultdict(set)
    for e in gold_events:
        root = e
        while negative_of.get(root):
            root = negative_of[root]
        groups[root].add(e)
    a, b = set(), set()
    for i, root in enumerate(sorted(groups)):
        (a if i % 2 == 0 else b).update(groups[root])
    return a, b


GRID = {
    "w_words": (0.45, 0.55, 0.65),
    "threshold": (0.22, 0.26, 0.30, 0.34),
    "day_conflict_penalty": (0.4, 0.6, 0.8),
    "decay_days": (1.0, 2.0, 4.0),
}


def objective(rows) -> float:
    return sum(f - 0.05 * la for _, _, _, f, la in rows) / len(rows)


def tune(features, gold, negative_of, base, n_orders):
    """Grid search over :data:`GRID` (``w_names = 0.9 - w_words``): the best params and their objective."""
    best = None
    for values in itertools.product(*GRID.values()):
        kw = dict(zip(GRID, values))
        params = replace(base, **kw, w_names=round(0.9 - kw["w_words"], 2))
        score = objective(evaluate(features, gold, negative_of, params, n_orders))
        if best is None or score > best[0] + 1e-12:
            best = (score, params)
    return best[1], best[0]


def print_rows(rows, indent="  ") -> None:
    for name, p, r, f, la in rows:
        print(f"{indent}{name:9s} P={p:.3f} R={r:.3f} F1={f:.3f} look-alike pairs merged={la}")
    fs = [f for *_, f, _ in rows]
    print(f"{indent}mean F1={sum(fs) / len(fs):.3f} min F1={min(fs):.3f} "
          f"look-alike pairs merged (max over orders)={max(la for *_, la in rows)}")


def run_dev(path: Path, n_orders: int, do_tune: bool, n_two_worker: int = 0) -> None:
    from services.events.cluster import EventParams
    from services.events.features import features_of

    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    t0 = time.perf_counter()
    docs = enrich(rows)
    print(f"dev: {len(rows)} articles through ingest → normalize → extract(bilstm) in {time.perf_counter() - t0:.1f} s")
    kept = [(r, d) for r, d in zip(rows, docs) if d is not None]
    features = [features_of(d) for _, d in kept]
    gold = {d.article_id: r["event"] for r, d in kept}
    negative_of = {r["event"]: r["hard_negative_of"] for r, _ in kept if r.get("hard_negative_of")}
    params = EventParams()
    print(f"params: {params}")
    print_rows(evaluate(features, gold, negative_of, params, n_orders))
    if n_two_worker:
        print(f"two extract workers ({n_two_worker} orders, lag {TWO_WORKER_LAG:g}):")
        print_rows(evaluate(features, gold, negative_of, params, 0, two_worker_orders(features, n_two_worker)))
    if not do_tune:
        return
    a, b = halves(sorted(set(gold.values())), negative_of)
    for name, tune_on, test_on in (("A", a, b), ("B", b, a)):
        f_tune = [f for f in features if gold[f.article_id] in tune_on]
        f_test = [f for f in features if gold[f.article_id] in test_on]
        g_tune = {f.article_id: gold[f.article_id] for f in f_tune}
        g_test = {f.article_id: gold[f.article_id] for f in f_test}
        best, score = tune(f_tune, g_tune, negative_of, params, n_orders)
        print(f"tuned on half {name} ({len(tune_on)} events: {' '.join(sorted(tune_on))}): objective {score:.3f}")
        print(f"  {', '.join(f'{k}={getattr(best, k)}' for k in (*GRID, 'w_names'))}")
        print(f"  on the other half ({len(test_on)} events), tuned params:")
        print_rows(evaluate(f_test, g_test, negative_of, best, n_orders), indent="    ")
        print("  on the other half, shipped defaults:")
        print_rows(evaluate(f_test, g_test, negative_of, params, n_orders), indent="    ")


def run_slice(path: Path, limit: int) -> None:
    from services.events.cluster import EventClusterer, EventParams, MemoryStore
    from services.events.features import features_of

    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for _, line in zip(range(limit), fh)]
    t0 = time.perf_counter()
    docs = [d for d in enrich(rows) if d is not None]
    print(f"slice: {len(docs)} articles through the pipeline in {time.perf_counter() - t0:.1f} s")
    params = EventParams()
    store = MemoryStore()
    c = EventClusterer(store, params)
    w0, c0 = time.perf_counter(), time.process_time()
    features = [features_of(d) for d in docs]
    c1 = time.process_time()
    for f in features:
        c.add_features(f)
    c2, w1 = time.process_time(), time.perf_counter()
    live = [e for e in store.events.values() if e.merged_into is None]
    sizes = Counter(e.size for e in live)
    merged = sum(1 for e in store.events.values() if e.merged_into is not None)
    print(f"  events: {len(live)} (merged away: {merged}); singletons {sizes.get(1, 0)}; "
          f"size distribution {dict(sorted(sizes.items()))}")
    print(f"  speed: {len(docs) / (c2 - c0):.0f} articles/s CPU (features {len(docs) / (c1 - c0):.0f}/s, "
          f"assignment {len(docs) / (c2 - c1):.0f}/s), wall {w1 - w0:.1f} s")
    by_id = {d.article_id: d for d in docs}
    print("  largest multi-article events (date, source: title):")
    for e in sorted(live, key=lambda e: (-e.size, e.event_id))[:12]:
        print(f"  - {e.event_id} {e.size} articles, {len(e.sources)} outlets")
        for aid in e.article_ids[:6]:
            d = by_id[aid]
            day = d.published_at.date().isoformat() if d.published_at else "?"
            print(f"      {day} {d.source}: {(d.title or d.body[:80]).strip()[:90]}")


def main() -> int:
    ap = argparse.ArgumentParser(description="event clustering: B-cubed on the dev set, 2k-slice stats")
    ap.add_argument("--dev", type=Path, default=DEV)
    ap.add_argument("--orders", type=int, default=4, help="shuffled orders besides the file's")
    ap.add_argument("--two-worker", type=int, default=8,
                    help="orders as two extract workers deliver the feed (see two_worker_orders)")
    ap.add_argument("--tune", action="store_true", help="2-fold tuning by halves of the events")
    ap.add_argument("--slice", type=Path, default=SLICE)
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--no-slice", action="store_true")
    args = ap.parse_args()
    if args.dev.exists():
        run_dev(args.dev, args.orders, args.tune, args.two_worker)
    else:
        print(f"skip dev: {args.dev} not found")
    if not args.no_slice:
        if args.slice.exists():
            run_slice(args.slice, args.limit)
        else:
            print(f"skip slice: {args.slice} not found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

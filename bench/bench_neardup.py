"""Near-duplicate detection measured on real news: recall over edited copies, false duplicates
among distinct originals, signatures/second.

Run: .venv/bin/python bench/bench_neardup.py [--copies-per-kind 60] [--batch 100] [--seed 7]
                                             [--show 10]

Data: ``../shared/data/news/ant-2k.jsonl`` (2,000 distinct articles; never committed). Skipped
with a message when absent.

What it does, with the same code the pipeline runs (:mod:`shared.neardup`):

1. ``signature(body)`` for every original (timed: signatures/second, one core).
2. Indexes the originals in corpus order (publication time) through a simulated index: a dict
   band key → ids stands for the Elasticsearch ``terms`` query; each batch of ``--batch`` docs
   gets the candidates sharing a band key, then :class:`BatchDeduper` assigns ``duplicate_of``.
   Every original flagged is a FALSE DUPLICATE unless it is genuinely the same story: each pair
   is printed (similarity, ids, start of both texts) to inspect.
3. Generates edited copies (fixed seed), ``--copies-per-kind`` of each of five kinds, and
   indexes them after the originals the same way: recall = copies whose ``duplicate_of`` is
   their source (or the source's own original, when the source was flagged).
4. Margins: the lowest similarities of copies to their sources, the highest similarity
   between two different originals (all pairs, exact over the signatures), and LSH candidates
   per document.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import neardup as nd  # noqa: E402
from shared.arabic import sentence_spans  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "data" / "news" / "ant-2k.jsonl"

KINDS = ("reorder", "byline", "punctuation", "read_also", "sentence")

# Our own bylines / datelines / read-also labels (not from any corpus).
BYLINE_NAMES = ["سامر الحداد", "ليلى منصور", "خالد العمري", "نادية فهمي", "يوسف القاسم",
                "ريم الشامي", "عمر بن سالم", "هالة يونس"]
BYLINE_PLACES = ["بيروت", "القاهرة", "عمّان", "الرباط", "دبي", "تونس", "الدوحة", "بغداد"]
BYLINE_AGENCIES = ["وكالات", "رويترز", "فرانس برس", "مراسلنا", "خاص"]
BYLINE_FORMS = [
    "بقلم: {name}",
    "{place} - {agency}",
    "كتب: {name} ({place})",
    "{place} ـ {name} | {agency}",
    "المصدر: {agency} — تحرير {name}",
]
READ_ALSO = ["اقرأ أيضاً:", "اقرأ أيضا", "إقرأ أيضاً ..", "طالع أيضاً:", "للمزيد:", "اقرأ المزيد:"]
EXTRA_SENTENCES = [
    "وأكدت مصادر مطلعة أن الاتصالات ما زالت مستمرة بين الأطراف المعنية.",
    "ولم يصدر حتى الآن أي تعليق رسمي على هذه التطورات.",
    "ويتابع المراقبون الموقف عن كثب في انتظار ما ستسفر عنه الأيام المقبلة.",
    "وكانت جهات عدة قد حذرت في وقت سابق من تداعيات هذا القرار.",
]
_PUNCT = "،,.؛;:؟?!«»\"'()-—…"


def sentences(body: str) -> list[str]:
    return [body[s:e] for s, e in sentence_spans(body)]


def edit(kind: str, body: str, rng: random.Random, other_titles: list[str],
         other_sentences: list[str]) -> str:
    """One edited copy of ``body`` (harsh versions of each kind)."""
    if kind == "reorder":
        sents = sentences(body)
        if len(sents) < 2:
            return body
        for _ in range(10):  # a full shuffle, not the identity
            order = sents[:]
            rng.shuffle(order)
            if order != sents:
                break
        return " ".join(order)
    if kind == "byline":
        line = rng.choice(BYLINE_FORMS).format(
            name=rng.choice(BYLINE_NAMES), place=rng.choice(BYLINE_PLACES),
            agency=rng.choice(BYLINE_AGENCIES))
        lines = body.split("\n")
        # replace a short first line (an existing dateline/byline), else add one at top/bottom
        if len(lines) > 1 and len(lines[0].split()) <= 6:
            lines[0] = line
        elif rng.random() < 0.5:
            lines.insert(0, line)
        else:
            lines.append(line)
        return "\n".join(lines)
    if kind == "punctuation":
        out = []
        for ch in body:
            r = rng.random()
            if ch in _PUNCT:
                out.append("" if r < 0.3 else rng.choice(_PUNCT) if r < 0.6 else ch)
            elif ch == " " and r < 0.03:
                out.append(rng.choice([" ، ", ", ", " - ", "... ", " «", "» "]))
            else:
                out.append(ch)
        text = "".join(out)
        # also Latin vs Arabic comma and doubled spaces everywhere
        return text.replace("،", ",").replace(" ", "  ") if rng.random() < 0.5 else text
    if kind == "read_also":
        lines = body.split("\n")
        for _ in range(rng.randint(1, 3)):
            pos = rng.randint(0, len(lines))
            lines.insert(pos, f"{rng.choice(READ_ALSO)} {rng.choice(other_titles)}")
        return "\n".join(lines)
    if kind == "sentence":
        sents = sentences(body)
        if len(sents) >= 3 and rng.random() < 0.5:
            del sents[rng.randrange(len(sents))]
        else:
            extra = (rng.choice(EXTRA_SENTENCES) if rng.random() < 0.5
                     else rng.choice(other_sentences))  # a real sentence, real length
            sents.insert(rng.randint(0, len(sents)), extra)
        return " ".join(sents)
    raise ValueError(kind)


class FakeIndex:
    """The index as the pipeline sees it: band key → ids (the ``terms`` query), stored fields."""

    def __init__(self) -> None:
        self.by_key: dict[str, set[str]] = defaultdict(set)
        self.docs: dict[str, tuple[str, str, str | None]] = {}  # id -> (sig, seen_key, dup_of)
        self.candidates_per_doc: list[int] = []

    def index_batch(self, batch: list[tuple[str, str, str]]) -> dict[str, str | None]:
        keys = {k for _, sig, _ in batch for k in nd.band_keys(sig)}
        ids = set().union(*(self.by_key.get(k, set()) for k in keys)) if keys else set()
        for _, sig, _ in batch:
            own = set().union(*(self.by_key.get(k, set()) for k in nd.band_keys(sig)))
            self.candidates_per_doc.append(len(own))
        cands = [(i, self.docs[i][0], self.docs[i][1]) for i in ids]
        dedup = nd.BatchDeduper(cands, {i: self.docs[i][2] for i in ids})
        result = dedup.assign(batch)
        for art_id, sig, seen_key in batch:
            self.docs[art_id] = (sig, seen_key, result[art_id])
            for k in nd.band_keys(sig):
                self.by_key[k].add(art_id)
        return result


def run_batches(index: FakeIndex, docs: list[tuple[str, str, str]], size: int) -> dict:
    out: dict[str, str | None] = {}
    for i in range(0, len(docs), size):
        out.update(index.index_batch(docs[i:i + size]))
    return out


def max_pair_similarities(sigs: list[str], top: int) -> list[tuple[float, int, int]]:
    """The ``top`` highest similarities between two different MinHash signatures (exact)."""
    idx = [i for i, s in enumerate(sigs) if s.startswith("m")]
    mat = np.stack([nd._values(sigs[i]) for i in idx])
    best: list[tuple[float, int, int]] = []
    for a in range(len(idx)):
        eq = (mat[a + 1:] == mat[a]).mean(axis=1)
        if eq.size:
            j = np.argsort(eq)[-top:]
            best.extend((float(eq[k]), idx[a], idx[a + 1 + k]) for k in j)
        best = sorted(best, reverse=True)[:top]
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies-per-kind", type=int, default=60)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--show", type=int, default=8, help="lowest/highest pairs to print")
    ap.add_argument("--corpus", type=Path, default=CORPUS,
                    help="JSON Lines (.gz accepted), e.g. ../shared/data/news/ant-20k.jsonl.gz")
    ap.add_argument("--threshold", type=float, default=None,
                    help="override neardup.THRESHOLD (for tuning)")
    ap.add_argument("--max-new", type=float, default=None,
                    help="override neardup.MAX_NEW_SHINGLES (for tuning)")
    args = ap.parse_args()
    if args.threshold is not None:
        nd.THRESHOLD = args.threshold
    if args.max_new is not None:
        nd.MAX_NEW_SHINGLES = args.max_new

    if not args.corpus.exists():
        print(f"SKIP: corpus not found at {args.corpus} (see ../shared/data/news/SOURCE.md)")
        return 0
    opener = gzip.open if args.corpus.suffix == ".gz" else open
    with opener(args.corpus, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    print(f"corpus: {len(rows)} articles from {args.corpus}")
    print(f"parameters: NUM_PERM={nd.NUM_PERM} BANDS={nd.BANDS} ROWS={nd.ROWS} "
          f"SHINGLE_WORDS={nd.SHINGLE_WORDS} THRESHOLD={nd.THRESHOLD} "
          f"MIN_SHINGLES={nd.MIN_SHINGLES}")
    print(f"LSH: P(candidate) = {1 - (1 - 0.5 ** nd.ROWS) ** nd.BANDS:.4f} at J=0.5, "
          f"{1 - (1 - nd.THRESHOLD ** nd.ROWS) ** nd.BANDS:.4f} at J=THRESHOLD, "
          f"{1 - (1 - 0.1 ** nd.ROWS) ** nd.BANDS:.5f} at J=0.1")

    # 1. signatures + speed
    bodies = [r["body"] for r in rows]
    t0 = time.perf_counter()
    sigs = [nd.signature(b) for b in bodies]
    dt = time.perf_counter() - t0
    chars = sum(map(len, bodies))
    kinds = Counter(s[:1] or "empty" for s in sigs)
    print(f"speed: {len(sigs) / dt:,.0f} signatures/s ({dt * 1e3 / len(sigs):.2f} ms/article, "
          f"{chars / dt / 1e6:.2f} M chars/s, mean {chars / len(bodies):,.0f} chars); "
          f"kinds: {dict(kinds)}")
    t0 = time.perf_counter()
    for s in sigs:
        nd.band_keys(s)
    print(f"band_keys: {len(sigs) / (time.perf_counter() - t0):,.0f}/s")

    # 2. originals, in corpus order
    ids = [r["id"] for r in rows]
    docs = [(ids[i], sigs[i], f"o{i:06d}|{ids[i]}") for i in range(len(rows))]
    index = FakeIndex()
    res = run_batches(index, docs, args.batch)
    flagged = [(i, res[i]) for i in ids if res[i] is not None]
    n_cand = index.candidates_per_doc
    print(f"\nORIGINALS: {len(flagged)} of {len(ids)} flagged as duplicates "
          f"(candidates per doc from the index's band lookup: mean {np.mean(n_cand):.2f}, "
          f"max {max(n_cand)})")
    pos = {i: k for k, i in enumerate(ids)}
    for dup, orig in flagged:
        a, b = rows[pos[orig]], rows[pos[dup]]
        print(f"  {dup} -> {orig}  sim={nd.similarity(sigs[pos[dup]], sigs[pos[orig]]):.3f} "
              f"new={nd.new_shingles(sigs[pos[dup]], sigs[pos[orig]]):.0f}")
        for r in (a, b):
            print(f"     [{r['source']} {r['published_at']}] {r['title'][:70]!r}")
            print(f"       {r['body'][:160]!r}")

    # 3. edited copies
    rng = random.Random(args.seed)
    titles = [r["title"] for r in rows if r.get("title")]
    pool = [s for b in rng.sample(bodies, 200) for s in sentences(b) if len(s.split()) >= 4]
    copies: list[tuple[str, str, int, str]] = []  # (copy id, kind, source index, text)
    for kind in KINDS:
        chosen = rng.sample(range(len(rows)), args.copies_per_kind)
        for n, src in enumerate(chosen):
            text = edit(kind, bodies[src], rng, titles, pool)
            copies.append((f"copy-{kind}-{n}", kind, src, text))
    copy_docs = [(cid, nd.signature(text), f"z{k:06d}|{cid}")
                 for k, (cid, _, _, text) in enumerate(copies)]
    res_c = run_batches(index, copy_docs, args.batch)
    hit: Counter[str] = Counter()
    tot: Counter[str] = Counter()
    misses = []
    sims = []
    for (cid, kind, src, text), (_, csig, _) in zip(copies, copy_docs):
        expected = res[ids[src]] or ids[src]
        tot[kind] += 1
        sim = nd.similarity(csig, sigs[src])
        sims.append((sim, cid, kind, src, nd.new_shingles(csig, sigs[src])))
        if res_c[cid] == expected:
            hit[kind] += 1
        else:
            misses.append((cid, kind, src, sim, res_c[cid]))
    n_copies = sum(tot.values())
    print(f"\nCOPIES: recall {sum(hit.values())}/{n_copies} = {sum(hit.values()) / n_copies:.3f}")
    for kind in KINDS:
        ks = sorted(s for s, _, k, _, _ in sims if k == kind)
        nw = sorted(n for _, _, k, _, n in sims if k == kind)
        print(f"  {kind:12s} {hit[kind]:3d}/{tot[kind]:3d}  similarity to source: "
              f"min {ks[0]:.3f}  p05 {ks[len(ks) // 20]:.3f}  median {ks[len(ks) // 2]:.3f}"
              f"  | new shingles: median {nw[len(nw) // 2]:.0f}  p95 {nw[-max(1, len(nw) // 20)]:.0f}"
              f"  max {nw[-1]:.0f}")
    for cid, kind, src, sim, got in misses:
        print(f"  MISS {cid} (source {ids[src]}, {len(bodies[src].split())} words, "
              f"sig {sigs[src][:1]!r}) sim={sim:.3f} got={got}")
    wrong = [m for m in misses if m[4] is not None]
    print(f"  copies pointed at a WRONG story: {len(wrong)}")

    # 4. margin: most similar pairs of different originals
    print(f"\nMARGIN (THRESHOLD {nd.THRESHOLD}, MAX_NEW_SHINGLES {nd.MAX_NEW_SHINGLES}): "
          f"lowest copy similarities {[round(s, 3) for s, *_ in sorted(sims)[:args.show]]}; "
          f"most new shingles {sorted(round(x[4]) for x in sims)[-args.show:]}")
    if len(sigs) <= 5000:  # all pairs: quadratic
        top = max_pair_similarities(sigs, args.show)
        print(f"highest similarities between two originals (THRESHOLD {nd.THRESHOLD}):")
        for sim, a, b in top:
            print(f"  {sim:.3f}  {ids[a]}  {ids[b]}")
    print(f"\nSUMMARY recall={sum(hit.values()) / n_copies:.3f} ({n_copies} copies) "
          f"originals_flagged={len(flagged)} of {len(ids)} (inspect each pair above: a genuine same story is not a false duplicate) "
          f"speed={len(sigs) / dt:,.0f} signatures/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

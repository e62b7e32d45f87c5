"""Boilerplate out, story intact: the ingest gate measured on real scraped pages.

    python bench/bench_boilerplate.py [--dev PATH] [--show]

Each line of the dev set (``../shared/cases/events-dev.jsonl``, 79 real pages from 76 outlets)
is sent as a raw message — its ``id/source/url/title/body/published_at`` only; the gold
``boilerplate`` list never reaches the pipeline — through the real ingest handler
(``services.ingest.app.make_handler(Settings())``). The *indexed text* of a page is the
``title`` and ``body`` of every story that comes out (main and embedded), in page order.

Two figures:

* **out**: the share of marked boilerplate strings kept out of the indexed text. A string is
  out when at most 10 % of its non-space characters survive, found by aligning the page's body
  with the indexed text word by word (``difflib.SequenceMatcher`` over whitespace-separated
  tokens; the gate only removes text, so what survives is a subsequence of the body; a title
  that is also in the body is aligned once).
* **intact**: the share of pages whose story is intact: the body with every marked string cut
  out is split into sentences (at line breaks and ``. ! ? ؟``), and every sentence of three
  words or more must be found whole (whitespace collapsed) in the indexed text.

``--show`` prints each string that stayed and each sentence that was lost.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEV = ROOT.parent / "shared" / "cases" / "events-dev.jsonl"

from services.ingest.app import make_handler  # noqa: E402
from shared.settings import Settings  # noqa: E402

_WS = re.compile(r"\s+")
_SENTENCE_SPLIT = re.compile(r"[\n.!?؟]+")
OUT_KEEP_MAX = 0.10  # a string is "out" when at most this share of its characters survive
MIN_SENTENCE_WORDS = 3


def collapse(text: str) -> str:
    """``text`` with each run of whitespace one space, stripped."""
    return _WS.sub(" ", text).strip()


def kept_mask(body: str, indexed: str) -> list[bool]:
    """For each character of ``body``: does it survive in ``indexed``? The two texts are
    aligned word by word (whitespace-separated tokens, ``difflib.SequenceMatcher``); the
    characters of an aligned word survive."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", body)]
    a = [body[i:j] for i, j in spans]
    b = indexed.split()
    mask = [False] * len(body)
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.a, block.a + block.size):
            i, j = spans[k]
            mask[i:j] = [True] * (j - i)
    return mask


def indexed_text(outputs: list[tuple[bytes, bytes]]) -> str:
    """Title and body of every story the gate sent, in order, one per line."""
    parts = []
    for _key, value in outputs:
        story = json.loads(value)
        # a title repeated in the body is aligned once (a second copy would match stray letters)
        if story.get("title") and collapse(story["title"]) not in collapse(story["body"]):
            parts.append(story["title"])
        parts.append(story["body"])
    return "\n".join(parts)


def score_page(row: dict, indexed: str) -> tuple[list[str], list[str]]:
    """``(boilerplate strings that stayed, story sentences lost)`` for one page."""
    body = row["body"]
    mask = kept_mask(body, indexed)
    stayed = []
    for bp in row["boilerplate"]:
        start = body.find(bp)
        chars = [k for k in range(start, start + len(bp)) if not body[k].isspace()]
        if chars and sum(mask[k] for k in chars) > OUT_KEEP_MAX * len(chars):
            stayed.append(bp)
    story = body
    for bp in sorted(row["boilerplate"], key=len, reverse=True):  # "X –" may be inside a longer one
        story = story.replace(bp, "\n")
    flat = collapse(indexed)
    lost = [s for s in (collapse(p) for p in _SENTENCE_SPLIT.split(story))
            if len(s.split()) >= MIN_SENTENCE_WORDS and s not in flat]
    return stayed, lost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dev", type=Path, default=DEV)
    parser.add_argument("--show", action="store_true", help="print what stayed and what was lost")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    handle = make_handler(Settings())
    fields = ("id", "source", "url", "title", "body", "published_at")
    outcomes = handle([json.dumps({k: r[k] for k in fields if r.get(k) is not None}, ensure_ascii=False).encode()
                       for r in rows])
    marked = out = intact = rejected = 0
    for row, outcome in zip(rows, outcomes):
        if outcome.error is not None:
            rejected += 1
            indexed = ""
        else:
            indexed = indexed_text(outcome.outputs)
        stayed, lost = score_page(row, indexed)
        marked += len(row["boilerplate"])
        out += len(row["boilerplate"]) - len(stayed)
        intact += not lost
        if args.show and (stayed or lost):
            print(f"--- {row['id']} ({row['source']})")
            for s in stayed:
                print(f"  stayed: {s[:150]!r}")
            for s in lost:
                print(f"  lost:   {s[:150]!r}")
    print(f"pages: {len(rows)} (rejected by the gate: {rejected})")
    print(f"boilerplate out: {out}/{marked} = {out / max(marked, 1):.1%}")
    print(f"stories intact:  {intact}/{len(rows)} = {intact / max(len(rows), 1):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Search relevance across spellings: does a query return the same top 10 however it is spelled?

    .venv/bin/hadath infra up
    .venv/bin/python bench/bench_relevance.py [FILE] [--extract-workers N] [--recognizer NAME]

FILE defaults to ``../shared/data/news/ant-2k.jsonl`` (skips with a message when absent). The
file goes through an isolated pipeline (gazetteer recognizer by default, for speed; search does
not depend on the recognizer), then 20 queries — people, places and organizations frequent in
the corpus — are each searched in 3 spellings (hamza or not, ة/ه, ى/ي, a proclitic, diacritics,
tatweel, Persian ی ک, presentation forms). For each query it prints the overlap of the three
top-10 result sets, |A ∩ B ∩ C| / |A ∪ B ∪ C| (1.0 = identical sets), whether the three ranked
lists are identical, and the hit totals; then the mean overlap. Target: 1.0 (identical sets).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import infra  # noqa: E402
from hadath.sandbox import Pipeline, cleanup, start  # noqa: E402
from shared.settings import Settings  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "news" / "ant-2k.jsonl"
TOP = 10

#: 20 queries, each in 3 spellings (the first is the usual one).
QUERIES: list[tuple[str, str, str]] = [
    ("إيران", "ايران", "لإيران"),                       # hamza / none / proclitic ل
    ("روسيا", "وروسيا", "روسیا"),                       # proclitic و / Persian yeh
    ("سوريا", "بسوريا", "سُورِيَا"),                     # proclitic ب / diacritics
    ("إسرائيل", "اسرائيل", "لإسرائيل"),                 # hamza / proclitic
    ("مصر", "بمصر", "مِصْر"),
    ("تركيا", "لتركيا", "ترکیا"),                       # Persian kaf and yeh
    ("فرنسا", "وفرنسا", "فـرنـسـا"),                    # tatweel
    ("واشنطن", "لواشنطن", "واشنطـن"),
    ("غزة", "غزه", "بغزة"),                              # teh marbuta / heh
    ("طهران", "بطهران", "طِهْرَان"),
    ("موسكو", "لموسكو", "موسکو"),
    ("دمشق", "بدمشق", "دِمَشْق"),
    ("لبنان", "للبنان", "ﻟﺒﻨﺎﻥ"),                       # presentation forms
    ("السعودية", "السعوديه", "بالسعودية"),
    ("ماكرون", "ماکرون", "لماكرون"),
    ("بوتين", "بوتین", "لبوتين"),
    ("أردوغان", "اردوغان", "أردوغـان"),
    ("الأمم المتحدة", "الامم المتحده", "الأُمَم المُتَّحِدَة"),
    ("مجلس الأمن", "مجلس الامن", "مَجْلِس الأَمْن"),
    ("الاتحاد الأوروبي", "الإتحاد الاوروبى", "الاتحاد الأو\u200fروبي"),       # RLM inside a word
]


def top_ids(pipe: Pipeline, query: str) -> tuple[list[str], int]:
    res = pipe.search(query, size=TOP)
    return [h["article_id"] for h in res["hits"]], res["total"]


def overlap(lists: list[list[str]]) -> float:
    sets = [set(x) for x in lists]
    union = set().union(*sets)
    return len(set.intersection(*sets)) / len(union) if union else 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--extract-workers", type=int, default=2)
    parser.add_argument("--recognizer", default="gazetteer")
    args = parser.parse_args()
    if not args.file.exists():
        print(f"skipped: {args.file} is absent")
        return 0
    infra.up(Settings(), progress=lambda *_: None)
    pipe = start(args.extract_workers, recognizer=args.recognizer)
    try:
        t0 = time.monotonic()
        report = pipe.feed(args.file)
        pipe.wait(timeout_seconds=3600)
        print(f"file: {args.file}  sent: {report.sent}  indexed: {pipe.count()}  "
              f"({time.monotonic() - t0:.0f} s)")
        print(f"{'overlap':>7}  {'same order':>10}  totals            spellings")
        overlaps = []
        for spellings in QUERIES:
            results = [top_ids(pipe, q) for q in spellings]
            lists = [ids for ids, _ in results]
            ov = overlap(lists)
            overlaps.append(ov)
            same_order = all(x == lists[0] for x in lists)
            totals = "/".join(str(t) for _, t in results)
            print(f"{ov:7.2f}  {str(same_order):>10}  {totals:<16}  {' | '.join(spellings)}")
        mean = sum(overlaps) / len(overlaps)
        identical = sum(o == 1.0 for o in overlaps)
        print(f"mean top-{TOP} overlap over {len(QUERIES)} queries x 3 spellings: {mean:.3f} "
              f"({identical}/{len(QUERIES)} identical sets)")
    finally:
        cleanup(pipe.settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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

Then the indexed documents are copied into one index per analyzer variant — ``before`` (place
names only), ``names`` (places and people: the index's analyzer), ``names+stop`` (also
Lucene's Arabic stopwords) and ``unmasked`` (the index's analyzer, but the stemmed fields hold
the whole title and body: the tagged names not blanked out) — and each variant is scored on:

* the spelling overlap above (mean over the 20 queries);
* stories (``--stories N``, default 40): for N events of 3+ articles, the query is 3 to 5
  content words of one article's title (the first words that are not stopwords); relevant =
  the articles of that event. Printed per query rule (``and``: every word; ``msm``: all words
  but one for 3+ words, :data:`shared.search.LONG_QUERY_MSM`): mean recall of the event's
  articles in the top 10 (R@10), mean share of the top 10 from the event (P@10), and mean
  total hits (how much the rule lets in).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from elasticsearch import helpers  # noqa: E402


from hadath.sandbox import Pipeline, cleanup, start  # noqa: E402
from shared.arabic import normalize  # noqa: E402
from shared.es import STEMMED_FIELDS, analysis_settings, arabic_stopwords, mappings  # noqa: E402
from shared.search import LONG_QUERY_MSM, build_query, tagged_name_words  # noqa: E402

VARIANTS = {"before": {"persons": False}, "names": {}, "names+stop": {"stopwords": True},
            "unmasked": {"masked": False}}

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


def _unmasked(source: dict) -> dict:
    return {**source, **{target: source[field] for field, target in STEMMED_FIELDS.items() if field in source}}


def make_variant(pipe: Pipeline, name: str, masked: bool = True, **analysis) -> str:
    """A copy of the pipeline's article index analyzed with ``analysis_settings(**analysis)``
    (``masked=False``: the stemmed fields copied from the whole title and body)."""
    es, index = pipe.es, f"{pipe.settings.index_alias}-bench-{name.replace('+', '-')}"
    es.options(ignore_status=404).indices.delete(index=index)
    t0 = time.monotonic()
    es.indices.create(index=index, settings={"number_of_shards": 1, "number_of_replicas": 0,
                                             "analysis": analysis_settings(**analysis)}, mappings=mappings())
    created = time.monotonic() - t0
    helpers.bulk(es, ({"_index": index, "_id": h["_id"],
                       "_source": h["_source"] if masked else _unmasked(h["_source"])}
                      for h in helpers.scan(es, index=pipe.settings.index_alias)), chunk_size=500)
    es.indices.refresh(index=index)
    print(f"variant {name}: index created in {created:.1f} s")
    return index


def variant_search(pipe: Pipeline, index: str, query: str, msm: str | None, size: int = TOP) -> dict:
    names = tagged_name_words(pipe.es, index, query)
    resp = pipe.es.search(index=index, **build_query(query, names=names, msm=msm, size=size))
    return resp


def story_queries(pipe: Pipeline, n: int) -> list[tuple[str, set[str]]]:
    """``(query, relevant article ids)`` for up to ``n`` events of 3+ articles (see the docstring)."""
    stop = set(arabic_stopwords())
    by_event: dict[str, list[dict]] = {}
    for d in pipe.docs():
        if d.get("event_id"):
            by_event.setdefault(d["event_id"], []).append(d)
    out = []
    for event_id in sorted(by_event, key=lambda e: (-len(by_event[e]), e)):
        docs = sorted(by_event[event_id], key=lambda d: d["article_id"])
        if len(docs) < 3:
            break
        words = [w for w in (docs[0].get("title") or "").split() if normalize(w) not in stop and len(normalize(w)) > 1]
        if len(words) < 3:
            continue
        out.append((" ".join(words[:5]), {d["article_id"] for d in docs}))
        if len(out) >= n:
            break
    return out


def score_variant(pipe: Pipeline, index: str, stories: list[tuple[str, set[str]]]) -> None:
    overlaps = [overlap([[h["_id"] for h in variant_search(pipe, index, q, None)["hits"]["hits"]]
                         for q in spellings]) for spellings in QUERIES]
    print(f"  spelling overlap: {sum(overlaps) / len(overlaps):.3f} ({sum(o == 1.0 for o in overlaps)}/{len(QUERIES)} identical)")
    for rule, msm in (("and", None), ("msm", LONG_QUERY_MSM)):
        recall = precision = total = 0.0
        for query, relevant in stories:
            resp = variant_search(pipe, index, query, msm)
            ids = [h["_id"] for h in resp["hits"]["hits"]]
            found = len(relevant & set(ids))
            recall += found / min(len(relevant), TOP)
            precision += found / TOP
            total += resp["hits"]["total"]["value"]
        k = max(len(stories), 1)
        print(f"  stories ({len(stories)}), {rule:>3}: R@{TOP} {recall / k:.3f}  P@{TOP} {precision / k:.3f}  "
              f"mean hits {total / k:.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--extract-workers", type=int, default=2)
    parser.add_argument("--recognizer", default="gazetteer")
    parser.add_argument("--stories", type=int, default=40)
    args = parser.parse_args()
    if not args.file.exists():
        print(f"skipped: {args.file} is absent")
        return 0
    # the servers must be up already (`hadath infra up`): the bench never starts or restarts them
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
        stories = story_queries(pipe, args.stories)
        for name, analysis in VARIANTS.items():
            index = make_variant(pipe, name, **analysis)
            try:
                score_variant(pipe, index, stories)
            finally:
                pipe.es.options(ignore_status=404).indices.delete(index=index)
        for query, _ in stories[:5]:
            print(f"  e.g. story query: {query}")
    finally:
        cleanup(pipe.settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

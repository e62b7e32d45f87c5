"""Time every per-message entry point on hostile bodies of growing size: is any super-linear?

Run: .venv/bin/python bench/bench_hostile.py [--max-n 100000] [--only SUBSTRING] [--stage NAME]

For each (entry point, hostile kind) the body is built at n = 6,250, 12,500, ... up to
``--max-n`` characters (stopping early once one call takes more than ``--budget`` seconds) and
the line printed is ``stage kind n seconds ratio`` where ``ratio`` is the time at n over the
time at n/2: about 2 for linear work, about 4 for quadratic. Lines with a ratio above 3 at a
time above 0.05 s are marked ``<-- SUPER-LINEAR``; on a busy machine small times are noisy,
so check a flagged pair at larger n before believing it. Times are this process's CPU
seconds (``time.process_time``, best of up to 3 runs), so other processes on the machine
matter less. Printed: the largest n of each pair, and any flagged or over-budget n.

The gate is given ``hostile + "\n" + good article`` (hostile first, as an attacker would send
it); normalize and extract are given ``good article + "\n" + hostile`` as an already
ingested story (the gate would refuse some kinds). Nothing here talks to Kafka or
Elasticsearch; the recognizer is the default one (``bilstm``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOOD = (
    "أعلن وزير الخارجية العراقي في بغداد يوم الخميس 4 يناير 2024 أن الوفد سيزور عمان "
    "الأسبوع المقبل لبحث الأوضاع في المنطقة مع المسؤولين الأردنيين."
)


def _rep(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


# name -> body of about n characters
KINDS = {
    "spaces": lambda n: " " * n,
    "tabs_spaces": lambda n: _rep(" \t", n),
    "newlines": lambda n: "\n" * n,
    "crlf": lambda n: _rep("\r\n", n),
    "marks": lambda n: _rep("\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652", n),
    "letter_marks": lambda n: "ب" + "\u064e" * n,
    "letter_mark_words": lambda n: _rep("ب" + "\u0650" * 40 + " ", n),
    "paragraphs": lambda n: _rep("فقرة قصيرة من نص الخبر.\n\n", n),
    "short_lines": lambda n: _rep("سطر\n", n),
    "long_token": lambda n: "ب" * n,
    "long_latin": lambda n: "a" * n,
    "punct_dots": lambda n: "." * n,
    "punct_mixed": lambda n: _rep("؟!.,:؛،\"'()-", n),
    "rlm": lambda n: "\u200f" * n,
    "letter_rlm": lambda n: "ب" + "\u200f" * n + "ب",
    "zwj": lambda n: _rep("ب\u200d", n),
    "tatweel": lambda n: "ـ" * n,
    "digits": lambda n: _rep("١2٣4٥6", n),
    "digit_dots": lambda n: _rep("1.", n),
    "digit_slash": lambda n: _rep("12/", n),
    "emoji": lambda n: "😀" * (n // 2),
    "nul": lambda n: "\x00" * n,
    "lt": lambda n: "<" * n,
    "a_no_gt": lambda n: "<a " + _rep("href=x ", n),
    "lt_spaces": lambda n: "<" + " " * n,
    "amp": lambda n: _rep("&amp", n),
    "nested_html": lambda n: "<div>" * (n // 11) + "نص" + "</div>" * (n // 11),
    "nested_b": lambda n: "<b>" * (n // 7) + "نص" + "</b>" * (n // 7),
    "unclosed_tags": lambda n: _rep("<p>نص ", n),
    "read_also": lambda n: _rep("اقرأ أيضا\n\n", n),
    "related": lambda n: _rep("مقالات ذات صلة\n", n),
    "byline": lambda n: _rep("كتب: فلان\n", n),
    "march": lambda n: _rep("مارس ", n),
    "months": lambda n: _rep("يناير فبراير كانون الثاني ", n),
    "word_slash": lambda n: _rep("يناير/", n),
    "arabic_words": lambda n: _rep("قال الوزير إن الوفد وصل إلى بغداد ", n),
    "social": lambda n: _rep("فيسبوك ", n),
    "alef_lam": lambda n: _rep("ال", n),
    "punct_then_letter": lambda n: "." * n + "ب",
    "marks_then_space": lambda n: _rep("\u064e" * 1000 + " ", n),
    "letter_space": lambda n: _rep("ب ", n),
    "html_entities": lambda n: _rep("&#1576;", n),
    "places": lambda n: _rep("زار بغداد والبصرة ", n),
}


def _raw(body: str) -> bytes:
    return json.dumps({"source": "bench", "title": "خبر", "body": body}, ensure_ascii=False).encode()


def _stages():
    from shared.dates import find_dates
    from services.extract.extract import Extractor
    from services.ingest.dates import parse_published_at
    from services.ingest.gate import Rejected, process_raw
    from services.ingest.markup import html_to_text, looks_like_html
    from services.ingest.pages import split_page
    from services.normalize.normalize import normalize_article
    from shared.arabic import entity_key, normalize, sentence_spans, tokenize_spans
    from shared.neardup import signature
    from shared.schemas import IngestedArticle

    now = datetime(2024, 1, 5, tzinfo=UTC)
    extractor = Extractor("bilstm")

    def gate(body):
        try:
            process_raw(_raw(body + "\n" + GOOD), ingested_at=now)
        except Rejected:
            pass

    def ingested(body):
        return IngestedArticle(article_id="0" * 20, body=GOOD + "\n" + body, ingested_at=now,
                               content_hash="0" * 64, language="ar")

    def normalize_stage(body):
        normalize_article(ingested(body))

    def extract_stage(body):
        extractor.extract_batch([normalize_article(ingested(body))])

    return {
        "gate.process_raw": gate,
        "looks_like_html": looks_like_html,
        "html_to_text": html_to_text,
        "split_page": split_page,
        "ingest.parse_published_at": lambda b: parse_published_at(b, relative_to=now),
        "arabic.normalize": normalize,
        "arabic.tokenize_spans": tokenize_spans,
        "arabic.sentence_spans": sentence_spans,
        "arabic.entity_key": entity_key,
        "neardup.signature": signature,
        "normalize_article": normalize_stage,
        "extract.find_dates": lambda b: find_dates(b, now),
        "Extractor.extract_batch": extract_stage,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-n", type=int, default=100_000)
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--only", default="", help="run only kinds containing this")
    ap.add_argument("--stage", default="", help="run only stages containing this")
    args = ap.parse_args()
    stages = _stages()
    for sname, fn in stages.items():
        if args.stage and args.stage not in sname:
            continue
        for kname, make in KINDS.items():
            if args.only and args.only not in kname:
                continue
            prev = None
            n = 6_250
            while n <= args.max_n:
                body = make(n)
                dt = float("inf")
                for _ in range(3):  # best of up to 3: one GC pause must not look quadratic
                    t0 = time.process_time()
                    fn(body)
                    dt = min(dt, time.process_time() - t0)
                    if dt > 0.3:
                        break
                ratio = dt / prev if prev and prev > 1e-4 else float("nan")
                flag = "  <-- SUPER-LINEAR" if ratio > 3 and dt > 0.05 else ""
                if n * 2 > args.max_n or dt > args.budget or flag:
                    print(f"{sname:26s} {kname:18s} n={n:>7,} {dt:8.3f}s ratio={ratio:5.2f}{flag}", flush=True)
                if dt > args.budget:
                    break
                prev = dt
                n *= 2


if __name__ == "__main__":
    main()

"""Speed of shared.arabic.normalize / normalize_with_offsets on generated Arabic news text.

Run: .venv/bin/python bench/bench_normalize.py
Prints chars/second and microseconds per 1,500-character article for plain text (the common
case: few marks) and for text full of harakat, tatweel and invisible marks (the slow path).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.arabic import entity_key, normalize, normalize_with_offsets  # noqa: E402

WORDS = (
    "قال المتحدث باسم وزارة الخارجية إن الوفد سيصل إلى عمان يوم الخميس لبحث الأوضاع في "
    "المنطقة مع المسؤولين وأضاف أن الاجتماع سيعقد في مقر الجامعة العربية بحضور ممثلين عن "
    "الدول الأعضاء ٢٠٢٤ الكويت ایران مستشفى"
).split()
MARKS = ["\u064e", "\u0650", "\u0651", "\u0640\u0640", "\u200f", "\u200c"]


def make_article(rng: random.Random, n_chars: int, marked: bool) -> str:
    parts: list[str] = []
    size = 0
    while size < n_chars:
        w = rng.choice(WORDS)
        if marked:
            w = "".join(c + (rng.choice(MARKS) if rng.random() < 0.4 else "") for c in w)
        parts.append(w)
        size += len(w) + 1
        if rng.random() < 0.08:
            parts[-1] += "."
    return " ".join(parts)[:n_chars]


def bench(fn, texts: list[str], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    rng = random.Random(1)
    for marked in (False, True):
        texts = [make_article(rng, 1500, marked) for _ in range(500)]
        chars = sum(map(len, texts))
        label = "marked (harakat/tatweel/RLM)" if marked else "plain news text"
        for name, fn in (
            ("normalize", normalize),
            ("normalize_with_offsets", normalize_with_offsets),
            ("normalize_with_offsets(collapse)",
             lambda t: normalize_with_offsets(t, collapse_whitespace=True)),
        ):
            secs = bench(fn, texts)
            print(f"{label:30s} {name:34s} {chars / secs / 1e6:7.2f} M chars/s  "
                  f"{secs / len(texts) * 1e6:7.1f} us per 1,500-char article")
    names = ["وبالموصل", "أبو بكر الحسيني", "الکویت", "للخرطوم", "بغـــداد"] * 2000
    secs = bench(lambda n: entity_key(n), names)
    print(f"entity_key: {secs / len(names) * 1e6:.2f} us per name")


if __name__ == "__main__":
    main()

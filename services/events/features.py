"""What the events stage reads from an enriched article: words, names, places, dates, numbers, time.

Pure functions, no state beyond the shipped idf table.

* **Words** — the article's ``normalized_title`` and ``normalized_body`` (already through the one
  normalization table, :mod:`shared.arabic`), tokenized with :func:`shared.arabic.tokenize_spans`
  and light-stemmed with :func:`light_stem` (Larkey, Ballesteros & Connell, "Light Stemming for
  Arabic Information Retrieval", 2007: the *light10* prefix and suffix lists), hashed into
  ``N_FEATURES`` buckets with scikit-learn's :class:`~sklearn.feature_extraction.text.HashingVectorizer`
  (signed 32-bit MurmurHash3, no sign flipping), weighted by sublinear tf × idf and L2-normalized;
  title words count ``title_weight`` (2) times, lead words (the first ``LEAD_CHARS`` of the body) twice — the
  inverted pyramid puts the event in the lead, a scraped page's tail is background and furniture.
* **idf** — smooth idf ``ln((1 + N) / (1 + df)) + 1`` per bucket (scikit-learn's
  ``TfidfTransformer(smooth_idf=True)``) over the 20k news corpus, shipped as ``idf.npz``
  (bucket weights only: no word list or text). Built by ``python -m services.events.features
  build-idf``. A bucket the corpus never saw gets the maximum idf (an unseen word is rare).
* **Names** — entity keys per label (``PERS``/``ORG``/``MISC``, and ``LOC`` when extract could
  not link the place) and place geonameids, hashed as whole keys ("حزب الله" is one feature, so
  two emirs who share three of four name parts do not half-match), each weighted by the
  largest word idf among its tokens (places by their feature kind); plus each name token
  (``N:token``, ``NAME_TOKEN_WEIGHT`` × its idf) as partial evidence across spellings, spans and
  NER labels ("جوزيف عون" / "جوزاف عون", "الحوز" / "اقليم الحوز"); "عبد X" and "عبدX" are one part.
* **Event day** — :func:`event_day`: the lead's stated day unless it is background.
* **Dates** — the day-level dates (``YYYY-MM-DD``) the text states, as resolved by extract.
* **Numbers** — numbers of two digits or more in the text (casualty counts, magnitudes, years).
* **Time** — ``published_at``; else the most stated day-level date; else ``ingested_at``; with
  its kind, since each is evidence of a different strength (see :class:`ArticleTime`).
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize as l2_normalize

from shared.dates import find_upcoming_days, find_weekdays
from shared.arabic import normalize, tokenize_spans

__all__ = [
    "N_FEATURES", "IDF_PATH", "light_stem", "stems", "idf_table", "word_vector", "name_weights",
    "stated_days", "lead_day", "event_day", "story_weekday", "prospective", "PROSPECTIVE_CUES", "upcoming_days", "EVENT_DAY_MAX_AGE", "numbers", "ArticleTime", "article_time", "day_number", "ArticleFeatures",
    "has_time_evidence", "features_record", "features_from_record", "RECORD_TERMS",
    "features_of",
]

#: Hash buckets of the word and name vectors (2**18, as scikit-learn's default 2**20 / 4).
N_FEATURES = 2**18
IDF_PATH = Path(__file__).with_name("idf.npz")

# --- light10 (Larkey et al. 2007), in normalized letters (ة→ه, ى→ي, أ→ا) -------------------------
_PREFIXES = tuple(normalize(p) for p in ("وال", "بال", "كال", "فال", "لل", "ال"))
_SUFFIXES = tuple(normalize(s) for s in ("ها", "ان", "ات", "ون", "ين", "يه", "ية", "ه", "ة", "ي"))
_WAW = "\u0648"
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")


def light_stem(token: str) -> str:
    """Larkey's *light10* stem of one normalized token: ``str -> str``.

    A leading و is removed when at least 3 letters remain; then the first of وال بال كال فال لل ال
    that leaves at least 2 letters; then one pass over ها ان ات ون ين يه ية ه ة ي in that order,
    each removed when it ends the word and leaves at least 2 letters (ية/ة are يه/ه after
    normalization). Tokens with digits or Latin letters
    are returned as they are.
    """
    if not token or not ("\u0621" <= token[0] <= "\u064a"):
        return token
    w = token
    if w.startswith(_WAW) and len(w) >= 4:
        w = w[1:]
    for p in _PREFIXES:
        if w.startswith(p) and len(w) - len(p) >= 2:
            w = w[len(p):]
            break
    for s in _SUFFIXES:
        if w.endswith(s) and len(w) - len(s) >= 2:
            w = w[: -len(s)]
    return w


def stems(text: str) -> list[str]:
    """Light stems of the word tokens of an already normalized text (``str -> list[str]``),
    tokens of one letter dropped."""
    return [light_stem(text[s:e]) for s, e in tokenize_spans(text) if e - s > 1]


def _analyzer(text: str) -> list[str]:
    return stems(text)


@lru_cache(maxsize=1)
def _hasher() -> HashingVectorizer:
    return HashingVectorizer(analyzer=_analyzer, n_features=N_FEATURES, alternate_sign=False, norm=None)


@lru_cache(maxsize=1)
def idf_table() -> np.ndarray:
    """The shipped idf per bucket, ``float32[N_FEATURES]`` (all ones if the file is absent)."""
    if not IDF_PATH.exists():
        return np.ones(N_FEATURES, dtype=np.float32)
    with np.load(IDF_PATH) as z:
        return z["idf"].astype(np.float32)


#: The lead: the first this many characters of the body (about two sentences), where a news
#: report says what happened; its words count ``LEAD_WEIGHT`` more times (the rest of a scraped
#: page is background, quotes and page furniture: tickers, other headlines).
LEAD_CHARS = 300
LEAD_WEIGHT = 1.0


def word_vector(normalized_title: str, normalized_body: str, *, title_weight: float = 2.0) -> sp.csr_matrix:
    """TF-IDF of one article, ``csr_matrix[1, N_FEATURES]``, L2-normalized (all zero if no words).

    tf is sublinear (``1 + ln(count)``); title words count ``title_weight`` times, lead words
    (:data:`LEAD_CHARS`) ``1 + LEAD_WEIGHT`` times.
    """
    cut = normalized_body.rfind(" ", 0, LEAD_CHARS) if len(normalized_body) > LEAD_CHARS else len(normalized_body)
    lead = normalized_body[: max(cut, 0)]
    parts = [(normalized_body, 1.0), (normalized_title, title_weight)]
    if LEAD_WEIGHT > 0 and lead:
        parts.append((lead, LEAD_WEIGHT))
    counts = weighted_counts(parts)
    counts.data = 1.0 + np.log(counts.data)
    counts = counts.multiply(idf_table()).tocsr()
    return l2_normalize(counts, norm="l2", copy=False)


@lru_cache(maxsize=1)
def _string_hasher() -> FeatureHasher:
    """The feature hasher inside :func:`_hasher` (tokens to buckets, one count each)."""
    return _hasher()._get_hasher()


_BUCKETS: dict[str, int] = {}  # token (before stemming) -> the bucket of its light stem


def _buckets(tokens: Iterable[str]) -> None:
    """Remember the :func:`_hasher` bucket of the light stem of each new token (one hashing call
    for all of them: scikit-learn's own hashing, so its buckets)."""
    new = [t for t in dict.fromkeys(tokens) if t not in _BUCKETS]
    if not new:
        return
    if len(_BUCKETS) > 500_000:
        _BUCKETS.clear()
    x = _string_hasher().transform([[light_stem(t)] for t in new])
    for t, b in zip(new, x.indices[x.indptr[:-1]].tolist(), strict=True):  # one stem, one bucket each
        _BUCKETS[t] = b


def weighted_counts(parts: Iterable[tuple[str, float]]) -> sp.csr_matrix:
    """``sum(weight * _hasher().transform([text]))`` over ``parts`` (in that order), as a
    ``(1, N_FEATURES)`` float64 CSR matrix with sorted indices: the same matrix, built from
    per-stem buckets instead of one vectorizer call per text. Per bucket the sum is taken in
    the same order (a text without the bucket adds nothing; an entry that sums to 0 is
    dropped, as scipy's addition drops it)."""
    tokens = [[text[s:e] for s, e in tokenize_spans(text) if e - s > 1] for text, _ in parts]  # as stems()
    _buckets(t for toks in tokens for t in toks)
    per: list[Counter[int]] = [Counter(map(_BUCKETS.__getitem__, toks)) for toks in tokens]
    weights = [w for _, w in parts]
    total: dict[int, float] = {}
    for k, (c, w) in enumerate(zip(per, weights, strict=True)):
        for b, n in c.items():
            v = w * float(n) if w != 1.0 or k else float(n)
            total[b] = total[b] + v if b in total else v
    keys = sorted(b for b, v in total.items() if v != 0.0)
    data = np.fromiter((total[b] for b in keys), np.float64, len(keys))
    return sp.csr_matrix((data, np.asarray(keys, np.int32), np.array([0, len(keys)], np.int32)),
                         shape=(1, N_FEATURES))


def _max_idf(text: str) -> float:
    """The largest idf of the buckets ``_hasher().transform([text])`` has (1.0 when it has none),
    from the remembered buckets of its tokens (the same buckets: :func:`stems`' tokens)."""
    tokens = [text[s:e] for s, e in tokenize_spans(text) if e - s > 1]
    if not tokens:
        return 1.0
    _buckets(tokens)
    return float(idf_table()[[_BUCKETS[t] for t in tokens]].max())


@lru_cache(maxsize=65536)
def _key_weight(key: str) -> float:
    return _max_idf(key)


#: Weight of a name's single tokens (``N:stem``) relative to their idf: partial evidence that
#: two spellings or two spans of one name ("جوزيف عون" / "جوزاف عون", "الحوز" / "اقليم الحوز")
#: agree; whole keys keep full weight.
NAME_TOKEN_WEIGHT = 0.5
#: "عبد المجيد" and "عبدالمجيد" (and ابو …) are one name part.
_COMPOUND_RE = re.compile(r"\b(عبد|ابو) (?=\S)")


@lru_cache(maxsize=65536)
def _name_tokens(key: str) -> tuple[tuple[str, float], ...]:
    """A name key's tokens of three letters or more (a leading ال dropped; no suffix stripping,
    which would cut names: تبون) with their idf."""
    out = []
    for tok in key.split():
        st = tok[2:] if tok.startswith("ال") and len(tok) >= 5 else tok
        if len(st) < 3:
            continue
        out.append((st, _max_idf(st)))
    return tuple(out)


_PLACE_WEIGHT = {"city": 1.0, "other": 1.0, "region": 0.7, "country": 0.35, None: 0.7}


#: Longest entity key taken as a name feature, in characters (the event index stores and
#: searches them as keywords; a hostile 80,000-letter "word" must not reach a query).
MAX_NAME_CHARS = 120


def name_weights(entities: Iterable[Mapping], places: Iterable[Mapping]) -> dict[str, float]:
    """Weighted name features of one article: ``{"PERS:key" | "P:geonameid": weight}``.

    A key's weight is (mentions) × (the largest word idf among its tokens); a linked place's is
    (mentions) × (city 1, region 0.7, country 0.35) × the largest idf; ``LOC`` keys of linked
    places are left to their geonameid. Weights are unnormalized.
    """
    linked: dict[str, Mapping] = {}
    out: Counter[str] = Counter()
    for p in places:
        if p.get("geonameid") is not None:
            linked[normalize(p["name"])] = p
    idf_max = float(idf_table().max())
    for e in entities:
        key = e.get("normalized") or ""
        if not 2 <= len(key) <= MAX_NAME_CHARS:  # no name is longer: a run of letters is not one
            continue
        label = e["label"]
        if label == "LOC" and (key in linked or key.removeprefix("ال") in linked):
            continue
        key = _COMPOUND_RE.sub(r"\1", key)
        out[f"{label}:{key}"] += _key_weight(key)
        if NAME_TOKEN_WEIGHT > 0:
            for tok, w in _name_tokens(key):
                out[f"N:{tok}"] += NAME_TOKEN_WEIGHT * w
    for p in linked.values():
        out[f"P:{p['geonameid']}"] += _PLACE_WEIGHT.get(p.get("feature"), 0.7) * idf_max * 0.5
    return dict(out)


def stated_days(dates: Iterable[Mapping]) -> Counter[str]:
    """Day-level dates the text states: ``Counter[YYYY-MM-DD -> mentions]`` (month/year values,
    which name a range, are left out)."""
    return Counter(d["value"] for d in dates if len(d["value"]) == 10)


#: Words that, among the three before a date, make it a deadline or a schedule rather than the
#: day something happened: deadlines ("قبل 28 أبريل", "حتى 18 ديسمبر", "بحلول"), set dates
#: ("المحددة في", "المقرر", "موعد"), starts ("يبدأ/سيبدأ يوم الأحد")
#: and what is yet to be done ("سيتم", "ستجري", "سيعقد").
PROSPECTIVE_CUES = frozenset(normalize(w) for w in (
    "قبل", "حتى", "لغاية", "بحلول", "المحددة", "المحدد", "المقررة", "المقرر", "موعد", "موعدها", "موعده",
    "يبدأ", "تبدأ", "سيبدأ", "ستبدأ", "سيتم", "ستتم", "سيعقد", "ستعقد", "سيجري", "ستجري", "يسري", "سيسري"))
_WORD_RE = re.compile(r"[^\W\d_]+")


#: Words that, among the three before a date, put it in the morning ("صباح اليوم السبت",
#: "الثانية صباحا من يومه السبت") or in the evening or night ("مساء أمس الجمعة", "في ساعة
#: متأخرة من مساء الجمعة", "ليل الجمعة"). Dawn ("فجر السبت") is not a morning here: strikes
#: and raids happen at dawn, and "ليل الجمعة السبت" then names the same night from its other end.
MORNING_CUES = frozenset(normalize(w) for w in ("صباح", "صباحا"))
NIGHT_CUES = frozenset(normalize(w) for w in ("مساء", "مساءا", "ليل", "ليلة", "ليلا", "متأخرة", "منتصف"))


def _cued(body: str, start: int, cues: frozenset[str], window: int = 3) -> bool:
    before = _WORD_RE.findall(body[max(0, start - 60):start])[-window:]
    return any(normalize(w) in cues for w in before)


def prospective(body: str, start: int, window: int = 3) -> bool:
    """Whether the date mention starting at ``start`` of ``body`` follows a deadline/schedule cue
    (:data:`PROSPECTIVE_CUES` among its ``window`` preceding words, normalized)."""
    return _cued(body, start, PROSPECTIVE_CUES, window)


def lead_day(dates: Iterable[Mapping], published_at: datetime | str | None, body: str = "") -> str | None:
    """The day the text first states (``YYYY-MM-DD``), by position — news leads say when the
    story happened; a day after ``published_at`` (a deadline, "next Sunday") is skipped, and so
    is a deadline or schedule the text itself marks (:func:`prospective`, when ``body`` — the
    text the mentions' offsets index — is given).

    Overnight: when that first day is a morning ("صباح اليوم السبت": :data:`MORNING_CUES`) and
    the text also states the evening or night before it ("مساء أمس الجمعة": :data:`NIGHT_CUES`),
    the story happened that night and was reported in the morning: the day before is returned
    (an earthquake at 23:11 and its toll at dawn are one event)."""
    pub = _dt(published_at).date().isoformat() if published_at is not None else None
    ordered = sorted(dates, key=lambda d: (d["start"], d["end"]))
    for d in ordered:
        v = d["value"]
        if len(v) == 10 and (pub is None or v <= pub) and not (body and prospective(body, d["start"])):
            if body and _cued(body, d["start"], MORNING_CUES):
                eve = (date.fromisoformat(v) - timedelta(days=1)).isoformat()
                if any(o["value"] == eve and _cued(body, o["start"], NIGHT_CUES) for o in ordered):
                    return eve
            return v
    return None


def numbers(normalized_text: str) -> frozenset[str]:
    """Numbers of two or more digits in a normalized text (``1,000`` → ``1000``): ``frozenset[str]``."""
    out = set()
    for m in _NUMBER_RE.finditer(normalized_text):
        n = m.group().replace(",", "")
        if len(n.replace(".", "")) >= 2:
            out.add(n)
    return frozenset(out)


_EPOCH = date(1970, 1, 1)

#: A lead day more than this many days before ``published_at`` is background, not the story's day.
EVENT_DAY_MAX_AGE = 2


def event_day(lead: str | None, published_at: datetime | str | None) -> str | None:
    """The day the story happened, when the text says so: the lead day (:func:`lead_day`) if it
    falls within ``EVENT_DAY_MAX_AGE`` days before ``published_at``, or the lead day of an undated
    article; ``None`` otherwise (no stated day, or only an old one — background)."""
    if not lead:
        return None
    if published_at is None:
        return lead
    pub = _dt(published_at).date()
    age = (pub - date.fromisoformat(lead)).days
    return lead if 0 <= age <= EVENT_DAY_MAX_AGE else None


def upcoming_days(dates: Iterable[Mapping], published_at: datetime | str | None, body: str) -> frozenset[str]:
    """The days the text looks forward to, as ``MM-DD``: stated days after ``published_at`` or
    marked as a deadline or schedule (:func:`prospective`), and days of a month named as
    upcoming ("… من ديسمبر المقبل", which an undated page still gives:
    :func:`shared.dates.find_upcoming_days`). A text that looks forward to a day
    was written before it: it previews what happens that day and is not a report of it. The
    year is left out because an undated page's is unknown (the time decay keeps other years apart)."""
    if published_at is not None:
        # the publication day says what is ahead ("حتى اليوم" is not), and the extractor has
        # resolved "… من ديسمبر المقبل" against it already: it is one of ``dates``
        pub = _dt(published_at).date().isoformat()
        return frozenset(d["value"][5:] for d in dates if len(d["value"]) == 10 and d["value"] > pub)
    out = {d["value"][5:] for d in dates if len(d["value"]) == 10 and body and prospective(body, d["start"])}
    out.update(f"{m:02d}-{d:02d}" for _, _, m, d in find_upcoming_days(body))
    return frozenset(out)


def story_weekday(event_day_: str | None, published_at: datetime | str | None, body: str) -> int | None:
    """The weekday the story happened on (``date.weekday()``, Monday = 0): the event day's, or —
    for a page with no ``published_at``, whose weekdays no date resolves — the first weekday the
    text names that is not a deadline (:func:`prospective`; "الجمعة المقبل" is never one:
    :func:`shared.dates.find_weekdays`). ``None`` when neither is known."""
    if event_day_:
        return date.fromisoformat(event_day_).weekday()
    if published_at is not None:
        return None
    for start, _, wd in find_weekdays(body):
        if not prospective(body, start):
            return wd
    return None


def day_number(value: date | datetime | str) -> float:
    """Days since 1970-01-01 (UTC) as a float: a ``datetime``, a ``date`` or ISO ``YYYY-MM-DD``."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp() / 86400.0
    return float((value - _EPOCH).days)


@dataclass(frozen=True)
class ArticleTime:
    """When an article happened, as far as the pipeline knows: ``days`` since 1970-01-01 (UTC).

    ``kind`` is ``"published"`` (the feed's ``published_at``), ``"stated"`` (the first day-level
    date the text states, :func:`lead_day`) or ``"ingested"`` (``ingested_at``: only an
    upper bound of the publication time — a page scraped long after it appeared says nothing
    else about its day).
    """

    days: float
    kind: Literal["published", "stated", "ingested"]


def article_time(published_at: datetime | str | None, stated_day: str | None,
                 ingested_at: datetime | str) -> ArticleTime:
    """published_at, else the lead's stated day, else ingested_at (see :class:`ArticleTime`)."""
    if published_at is not None:
        return ArticleTime(day_number(_dt(published_at)), "published")
    if stated_day:
        return ArticleTime(day_number(stated_day), "stated")
    return ArticleTime(day_number(_dt(ingested_at)), "ingested")


def _dt(v: datetime | str) -> datetime:
    return v if isinstance(v, datetime) else datetime.fromisoformat(str(v).replace("Z", "+00:00"))


@dataclass(frozen=True)
class ArticleFeatures:
    """Everything the clusterer scores, for one article.

    ``words``: ``csr_matrix[1, N_FEATURES]`` L2-normalized TF-IDF; ``names``: ``{feature: weight}``
    (see :func:`name_weights`); ``days``: stated day-level dates with counts; ``lead_day``: the
    first of them (:func:`lead_day`); ``numbers``;
    ``time``: :class:`ArticleTime`; ``title`` and ``source`` for the event's record;
    ``event_day`` (:func:`event_day`), ``weekday`` (:func:`story_weekday`, Monday = 0) and
    ``upcoming`` (:func:`upcoming_days`, ``MM-DD``).
    """

    article_id: str
    source: str | None
    title: str
    words: sp.csr_matrix
    names: Mapping[str, float]
    days: Mapping[str, int]
    lead_day: str | None
    numbers: frozenset[str]
    time: ArticleTime
    event_day: str | None = None
    weekday: int | None = None
    upcoming: frozenset[str] = frozenset()


#: Word buckets kept in a features record (the heaviest; an article's L2 mass is in them).
RECORD_TERMS = 200


def has_time_evidence(f: ArticleFeatures) -> bool:
    """Whether anything places the article in time: ``published_at``, a stated day, an event
    day or a weekday. An article without (``ingested_at`` only, from a backfill of scraped
    pages) may join a look-alike of its own story that came first; the clusterer keeps its
    features to look again (:meth:`services.events.cluster.EventClusterer.add_features`)."""
    return f.time.kind != "ingested" or f.event_day is not None or f.weekday is not None


def features_record(f: ArticleFeatures) -> dict:
    """JSON-ready record of ``f`` (its :data:`RECORD_TERMS` heaviest word buckets): the inverse
    of :func:`features_from_record`."""
    terms = sorted(zip(f.words.indices.tolist(), f.words.data.tolist()), key=lambda kv: (-kv[1], kv[0]))[:RECORD_TERMS]
    return {"article_id": f.article_id, "source": f.source, "title": f.title,
            "words": [[int(i) for i, _ in terms], [float(v) for _, v in terms]],
            "names": dict(f.names), "days": dict(f.days), "lead_day": f.lead_day,
            "numbers": sorted(f.numbers), "time": [f.time.days, f.time.kind], "event_day": f.event_day,
            "weekday": f.weekday, "upcoming": sorted(f.upcoming)}


def features_from_record(d: Mapping) -> ArticleFeatures:
    """The :class:`ArticleFeatures` of a :func:`features_record` (words: its kept buckets)."""
    idx, val = d["words"]
    words = sp.csr_matrix((np.asarray(val, dtype=np.float64), (np.zeros(len(idx), dtype=np.int64),
                                                              np.asarray(idx, dtype=np.int64))),
                          shape=(1, N_FEATURES))
    return ArticleFeatures(article_id=d["article_id"], source=d.get("source"), title=d.get("title") or "",
                           words=words, names=dict(d.get("names") or {}), days=dict(d.get("days") or {}),
                           lead_day=d.get("lead_day"), numbers=frozenset(d.get("numbers") or ()),
                           time=ArticleTime(days=float(d["time"][0]), kind=d["time"][1]),
                           event_day=d.get("event_day"), weekday=d.get("weekday"),
                           upcoming=frozenset(d.get("upcoming") or ()))


def features_of(article) -> ArticleFeatures:
    """:class:`ArticleFeatures` of an ``EnrichedArticle`` (or any object / mapping with its fields)."""
    get = (lambda k, d=None: article.get(k, d)) if isinstance(article, Mapping) else (
        lambda k, d=None: getattr(article, k, d))

    def as_dicts(xs):
        return [x if isinstance(x, Mapping) else x.model_dump() for x in (xs or [])]

    title = get("normalized_title") or normalize(get("title") or "")
    body = get("normalized_body") or normalize(get("body") or "")
    dates = as_dicts(get("dates"))
    days = stated_days(dates)
    lead = lead_day(dates, get("published_at"), get("body") or "")
    return ArticleFeatures(
        article_id=get("article_id"),
        source=get("source"),
        title=get("title") or "",
        words=word_vector(title, body),
        names=name_weights(as_dicts(get("entities")), as_dicts(get("places"))),
        days=days,
        lead_day=lead,
        numbers=numbers(title + "\n" + body),
        time=article_time(get("published_at"), lead, get("ingested_at")),
        event_day=(ev_day := event_day(lead, get("published_at"))),
        weekday=story_weekday(ev_day, get("published_at"), get("body") or ""),
        upcoming=upcoming_days(dates, get("published_at"), get("body") or ""),
    )


# --- building the idf table -----------------------------------------------------------------------

def build_idf(corpus: Path, out: Path = IDF_PATH) -> int:
    """Document frequencies of the light stems of ``corpus`` (JSON Lines, gzip or not, with
    ``title``/``body``) per hash bucket → smooth idf → ``out`` (``float16[N_FEATURES]``,
    compressed). Returns the number of documents."""
    opener = gzip.open if corpus.suffix == ".gz" else open
    df = np.zeros(N_FEATURES, dtype=np.int64)
    n = 0
    h = _hasher()
    batch: list[str] = []

    def flush() -> None:
        nonlocal df
        if batch:
            x = h.transform(batch)
            x.data[:] = 1
            df += np.asarray(x.sum(axis=0)).ravel().astype(np.int64)
            batch.clear()

    with opener(corpus, "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            batch.append(normalize((doc.get("title") or "") + "\n" + (doc.get("body") or "")))
            n += 1
            if len(batch) >= 1000:
                flush()
    flush()
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    np.savez_compressed(out, idf=idf.astype(np.float16), n_documents=np.int64(n))
    return n


if __name__ == "__main__":  # python -m services.events.features build-idf [CORPUS]
    if len(sys.argv) >= 2 and sys.argv[1] == "build-idf":
        src = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[3] / "shared" / "data" / "news" / "ant-20k.jsonl.gz"
        print(f"{build_idf(src)} documents → {IDF_PATH}")
    else:
        print("usage: python -m services.events.features build-idf [CORPUS]")

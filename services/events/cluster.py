"""Online, incremental event assignment: each enriched article joins an event or opens one.

The scheme follows Miranda, Znotiņš, Cohen & Barzdins, "Multilingual Clustering of Streaming
News" (EMNLP 2018): every event keeps summed TF-IDF vectors of its articles (here words and names
as separate sub-vectors); an arriving article is scored against candidate events by the cosine
of each sub-vector plus time features, joins the best one if the score clears a threshold and
opens a new event otherwise. Where it differs:

* the weights are a fixed linear blend (see :class:`EventParams`), not a learned SVM-rank model
  (there is no labelled stream to train one on);
* time is an *interval* per article (``published_at`` a day, a stated date a day, ``ingested_at``
  only an upper bound — see :func:`article_interval`), and the score is multiplied by an
  exponential decay over the days between the article's interval and the event's span beyond a
  slack (``exp(-max(0, gap_days - slack_days) / decay_days)``);
* the dates the texts *state* are evidence of their own. Each article has an *event day*
  (:func:`~services.events.features.event_day`: its lead's first stated day, when that is at most
  two days before ``published_at`` — an older date is background); an event's day is its members'
  most frequent event day. A same-day article gets the stated-day agreement term; one a day off is
  multiplied by ``1 - day_conflict_penalty`` (so only a near-identical text still joins: "today"
  resolved against a late ``published_at`` is off by one, but so is the walkie-talkie blasts'
  report against the pager blasts'); two or more days off by ``1 - far_day_penalty`` (a later
  development is another event, Miranda et al.'s time features being the same idea);
* a morning report of last night's story ("صباح اليوم السبت" with "مساء أمس الجمعة": an
  earthquake at 23:11 and its toll at dawn) has the night's day as its lead day
  (:func:`~services.events.features.lead_day`);
* a page with no ``published_at`` and no resolvable date still names a weekday ("مساء الجمعة"):
  its weekday is compared with the event's day like a day (:meth:`EventClusterer._day_factor`);
* a story that looks forward to a day (an agenda, a deadline: "… في الحادي عشر من ديسمبر
  المقبل") was written before it, so it is not the report of what happened on that day: when
  one side previews the other's day the score is multiplied by ``1 - far_day_penalty``
  (:meth:`EventClusterer._preview_factor`);
* an article with no time evidence (``ingested_at`` only), or an event with no dated member, can
  be scored down by ``undated_penalty`` (0 by default: measured on the dev set it costs more recall
  than it saves look-alike merges);
* an article that scores above ``merge_threshold`` against two events merges them when the two
  events also match each other (one id survives: the older; the other is recorded as merged);
* a page with no time evidence at all joins what is there when it comes, which may be a
  look-alike of its own story (the walkie-talkie blasts reported before the pager blasts, two
  extract workers finishing out of order). Such members keep their features in the event's
  state (:data:`MAX_PROVISIONAL` per event), and each time an article with time evidence joins
  or opens an event, the pages of the other candidate events are scored again, each side by its
  members with time evidence: a page moves when the new event fits it better by
  ``reassign_margin`` (an online second look, as EMM's periodic re-clustering and Event
  Registry's re-assignment give a stream's early, ambiguous articles);
* a follow-up story retells what it follows ("… الذين قضوا أمس في الهجوم"): an event whose
  members state, in most of them, an earlier day within ``window_days`` *recaps* the event of
  that day. A page with no time evidence that fits both goes to the recapped, earlier event
  unless the follow-up fits it clearly better (``recap_share``), when it is placed and on the
  second look; and such a page never merges two events whose days differ (it has no day of its
  own to bridge them with).

State is explicit: one :class:`EventState` per event (JSON-serializable with
:meth:`EventState.to_dict`), read and written through an :class:`EventStore`. Nothing random: the
same stream in the same order gives the same ids (an event's id is derived from its first
article's ``article_id``; ties are broken by age, then id). An article already assigned keeps its
event (a redelivered message does not move it).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from services.events.features import (N_FEATURES, ArticleFeatures, ArticleTime, day_number, features_from_record,
                                      features_of, features_record, has_time_evidence)

__all__ = [
    "EventParams", "EventState", "Assignment", "CandidateQuery", "EventStore", "MemoryStore",
    "EventClusterer", "event_id_for", "article_interval", "add_counts", "add_nested_counts", "take_count", "MAX_PROVISIONAL", "keep_newest", "PROVISIONAL_CANDIDATES",
]

INF = math.inf

#: Events holding members without time evidence that one article's second look searches, at any
#: time (the best-matching by shared names and word buckets).
PROVISIONAL_CANDIDATES = 20

#: Members without time evidence an event keeps with their features (the newest), to move them
#: when another event fits them better (:meth:`EventClusterer.add_features`).
MAX_PROVISIONAL = 20


def keep_newest(records: dict, n: int = MAX_PROVISIONAL) -> dict:
    """Drop the oldest entries of an insertion-ordered ``records`` (in place) until at most
    ``n`` are left; returns ``records``. The cap of both the provisional features of an event's
    state and the provisional display records of its summary, so the two stay equal."""
    while len(records) > n:
        records.pop(next(iter(records)))
    return records


@dataclass(frozen=True)
class EventParams:
    """The clusterer's parameters (weights are unitless; times in days).

    ``score = (w_words·cos(words) + w_names·cos(names)·min(1, cos(words)/names_words_floor) + w_numbers·shared_numbers
    + w_days·stated_day_agreement) · time_decay · day_factor · (1 - undated_penalty if no time
    evidence)``, where ``day_factor`` is 1 for the same event day (or an unknown one),
    ``1 - day_conflict_penalty`` one day apart and ``1 - far_day_penalty`` two or more apart, and
    the agreement is 1 when the article's event day is the event's day, else the share of stated
    day mentions in common. Defaults chosen on the events dev set (``bench/bench_events.py``;
    the 2-fold figures there are the honest ones).

    * ``threshold``: the least score to join an event; below it a new event opens.
    * ``merge_threshold``: an article scoring at least this against two events bridges them; they
      merge if the two events' own score (the same formula between their states, the bridge
      already counted in the best one) is at least ``merge_pair_threshold`` — which carries the
      time decay and the stated-day conflict, so look-alikes a day or a month apart stay apart.
    * ``slack_days`` / ``decay_days``: no decay for a gap up to the slack, then ``exp(-gap/decay)``.
    * ``ingested_lag_days``: how long before ``ingested_at`` an article without a date may have
      been published. ``None`` = unbounded: ingested_at then only says "not after" (a backfill of
      scraped pages); a live feed ingesting within the hour can set 2.
    * ``day_conflict_penalty`` / ``far_day_penalty``: unitless, in [0, 1] (see above).
    * ``undated_penalty``: unitless, in [0, 1].
    * ``window_days``: candidate events must have a span within this many days of the article.
    * ``max_terms``: word buckets kept per event (the largest sums; keeps the state small).
    * ``reassign_margin``: how much better (in score) another event must fit an article without
      time evidence for it to move there (see :meth:`EventClusterer.add_features`).
      At most :data:`MAX_PROVISIONAL` such articles are kept with their features per event (the
      newest); older ones stay where they are.
    * ``names_words_floor``: unitless cosine; below it the names cosine counts only in proportion
      (``cos_names · cos_words / floor``). Two reports of one story share words as well as names;
      a storm in America and a Korean summit share only "the United States", which alone gives
      a short article's few names a cosine of 0.7 (measured on the 2k slice with a third of
      ``published_at`` removed: pages with no time to keep them apart joined such strangers).
    * ``evict_share``: unitless; a member without time evidence scoring under
      ``evict_share · threshold`` against its event's dated members leaves it.
    * ``recap_share``: unitless, in [0, 1]. A follow-up story retells the story it follows (the
      funerals "of those killed yesterday in the strike"), so a page with no time evidence that
      both fit is, by what it lacks (the follow-up's own news), the earlier story's: it goes to
      the earlier event when its score there is at least ``1 - recap_share`` of its score against
      the follow-up (see :meth:`EventClusterer.recaps`).
    """

    w_words: float = 0.55
    w_names: float = 0.35
    w_numbers: float = 0.05
    w_days: float = 0.05
    threshold: float = 0.26
    merge_threshold: float = 0.45
    merge_pair_threshold: float = 0.2
    slack_days: float = 1.0
    decay_days: float = 2.0
    day_conflict_penalty: float = 0.65
    far_day_penalty: float = 0.9
    undated_penalty: float = 0.0
    ingested_lag_days: float | None = None
    window_days: float = 10.0
    max_terms: int = 400
    query_terms: int = 12
    reassign_margin: float = 0.06
    recap_share: float = 0.25
    evict_share: float = 0.5
    names_words_floor: float = 0.2


def event_id_for(article_id: str) -> str:
    """Event id of an event opened by ``article_id``: ``sha256("event:" + article_id)[:20]`` hex."""
    return hashlib.sha256(f"event:{article_id}".encode()).hexdigest()[:20]


def article_interval(t: ArticleTime, params: EventParams) -> tuple[float, float]:
    """The days the article's event may fall on, ``(lo_days, hi_days)``.

    published: ``(t - 1, t)`` (a report of the day or the day before); stated: ``(t, t)``;
    ingested: ``(t - ingested_lag_days, t)``, ``(-inf, t)`` when the lag is unbounded.
    """
    if t.kind == "published":
        return (t.days - 1.0, t.days)
    if t.kind == "stated":
        return (t.days, t.days)
    lag = params.ingested_lag_days
    return (-INF if lag is None else t.days - lag, t.days)


def _gap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Days between two intervals (0 when they overlap)."""
    return max(0.0, b[0] - a[1], a[0] - b[1])


@dataclass
class EventState:
    """One event, all of it serializable (:meth:`to_dict` / :meth:`from_dict`).

    * ``article_ids`` in arrival order, ``sources`` (outlet → articles), ``titles`` (first 20);
    * ``word_sum``: bucket → sum of the members' L2-normalized TF-IDF weights (the centroid up to
      a factor; the ``max_terms`` largest kept);
    * ``names``: name feature (``"PERS:key"``, ``"P:geonameid"``) → summed weight;
      ``entity_keys``: label → key → mentions; ``places``: geonameid → articles;
    * ``days``: stated day (``YYYY-MM-DD``) → mentions; ``lead_days``: the members' lead days
      (:func:`~services.events.features.lead_day`) → articles; ``event_days``: the members' event
      days (:func:`~services.events.features.event_day`) → articles; ``weekdays``: the members'
      story weekdays (:func:`~services.events.features.story_weekday`, ``"0"`` = Monday) →
      articles; ``upcoming``: the days (``MM-DD``) members look forward to
      (:func:`~services.events.features.upcoming_days`) → articles; ``numbers``: number → articles;
    * ``span_days``: ``[lo, hi]`` hull of the members' intervals from ``published_at`` or stated
      dates (``None`` if none has one); ``ingested_days``: ``[lo, hi]`` of the members' intervals
      known only from ``ingested_at``; ``opened_days``: the first article's time (the age that
      decides which event survives a merge);
    * ``merged_into``: the surviving event's id once merged (the state is kept as a record);
    * ``provisional``: article id → :func:`~services.events.features.features_record` of the
      members without time evidence (at most :data:`MAX_PROVISIONAL`, the newest), which may still
      move to an event that fits them better.
    """

    event_id: str
    opened_days: float
    article_ids: list[str] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    titles: list[str] = field(default_factory=list)
    word_sum: dict[int, float] = field(default_factory=dict)
    names: dict[str, float] = field(default_factory=dict)
    entity_keys: dict[str, dict[str, int]] = field(default_factory=dict)
    places: dict[int, int] = field(default_factory=dict)
    days: dict[str, int] = field(default_factory=dict)
    lead_days: dict[str, int] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    event_days: dict[str, int] = field(default_factory=dict)
    weekdays: dict[str, int] = field(default_factory=dict)
    upcoming: dict[str, int] = field(default_factory=dict)
    span_days: list[float] | None = None
    ingested_days: list[float] | None = None
    merged_into: str | None = None
    provisional: dict[str, dict] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of member articles."""
        return len(self.article_ids)

    def age_key(self) -> tuple[float, str]:
        """Older first: ``(opened_days, event_id)``."""
        return (self.opened_days, self.event_id)

    def interval(self) -> tuple[float, float]:
        """The event's days: its span if any member is dated, else its ingested interval."""
        if self.span_days is not None:
            return (self.span_days[0], self.span_days[1])
        if self.ingested_days is not None:
            return (self.ingested_days[0], self.ingested_days[1])
        return (-INF, INF)

    def to_dict(self) -> dict:
        """JSON-ready dict (int keys as strings, infinities as ``None``)."""
        d = self.__dict__.copy()
        d["word_sum"] = {str(k): v for k, v in self.word_sum.items()}
        d["places"] = {str(k): v for k, v in self.places.items()}
        for k in ("span_days", "ingested_days"):
            if d[k] is not None:
                d[k] = [None if math.isinf(x) else x for x in d[k]]
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "EventState":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["word_sum"] = {int(k): float(v) for k, v in d.get("word_sum", {}).items()}
        d["places"] = {int(k): int(v) for k, v in d.get("places", {}).items()}
        if d.get("ingested_days") is not None:
            lo, hi = d["ingested_days"]
            d["ingested_days"] = [-INF if lo is None else lo, hi]
        return cls(**d)


@dataclass(frozen=True)
class Assignment:
    """The outcome for one article: its ``event_id``, whether it opened the event, its score
    against the event it joined (``None`` when it opened one), the ids merged into it and the
    earlier articles it made move (``(article_id, from_event_id)``, each now in ``event_id``) and
    the members without time evidence it made leave ``event_id`` for an event of their own
    (``(article_id, new_event_id)``: they no longer fit it, see :meth:`EventClusterer.add_features`)."""

    article_id: str
    event_id: str
    opened: bool
    score: float | None
    merged: tuple[str, ...] = ()
    moved: tuple[tuple[str, str], ...] = ()
    evicted: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CandidateQuery:
    """What the store searches by: events sharing any ``names`` feature or any of the ``terms``
    (word buckets), whose interval is within ``window_days`` of ``interval_days``."""

    names: tuple[str, ...]
    terms: tuple[int, ...]
    interval_days: tuple[float, float]
    window_days: float


class EventStore(Protocol):
    """Where event states live (memory for the bench; Elasticsearch or a Faust table later).

    * ``candidates(query)`` → live (unmerged) events matching the query (any order);
    * ``provisional_candidates(query)`` → live events matching the query's names or terms at
      any time that hold members without time evidence (the best :data:`PROVISIONAL_CANDIDATES`);
    * ``get(event_id)`` → the state or ``None``; ``save(state)`` stores it (a merged state too);
    * ``assignment(article_id)`` / ``assign(article_id, event_id)``: the event an article was given;
    * ``resolve(event_id)`` follows ``merged_into`` to the surviving id.
    """

    def candidates(self, query: CandidateQuery) -> list[EventState]: ...
    def provisional_candidates(self, query: CandidateQuery) -> list[EventState]: ...
    def get(self, event_id: str) -> EventState | None: ...
    def save(self, state: EventState) -> None: ...
    def assignment(self, article_id: str) -> str | None: ...
    def assign(self, article_id: str, event_id: str) -> None: ...
    def resolve(self, event_id: str) -> str: ...


class MemoryStore:
    """In-memory :class:`EventStore` with inverted indexes on names and word buckets.

    An event is indexed under every name feature it has and the ``query_terms`` largest word
    buckets it had whenever it was saved (index entries are never removed: a candidate too many
    costs one score).
    """

    def __init__(self, index_terms: int = 12) -> None:
        self.events: dict[str, EventState] = {}
        self.by_name: dict[str, set[str]] = {}
        self.by_term: dict[int, set[str]] = {}
        self.articles: dict[str, str] = {}
        self.index_terms = index_terms

    def _matching(self, query: CandidateQuery) -> list[str]:
        """Ids of the events indexed under any of the query's names or terms, sorted (a subclass
        may drop events: a cache evicting)."""
        ids: set[str] = set()
        for n in query.names:
            ids |= self.by_name.get(n, set())
        for t in query.terms:
            ids |= self.by_term.get(t, set())
        return sorted(ids & self.events.keys())

    def candidates(self, query: CandidateQuery) -> list[EventState]:
        out = []
        for i in self._matching(query):
            e = self.events[i]
            if e.merged_into is None and _gap(e.interval(), query.interval_days) <= query.window_days:
                out.append(e)
        return out

    def provisional_candidates(self, query: CandidateQuery) -> list[EventState]:
        return [self.events[i] for i in self._matching(query)
                if self.events[i].merged_into is None and self.events[i].provisional]

    def get(self, event_id: str) -> EventState | None:
        return self.events.get(event_id)

    def save(self, state: EventState) -> None:
        self.events[state.event_id] = state
        if state.merged_into is not None:
            return
        for n in state.names:
            self.by_name.setdefault(n, set()).add(state.event_id)
        for t in _top_terms(state.word_sum, self.index_terms):
            self.by_term.setdefault(t, set()).add(state.event_id)

    def assignment(self, article_id: str) -> str | None:
        return self.articles.get(article_id)

    def assign(self, article_id: str, event_id: str) -> None:
        self.articles[article_id] = event_id

    def resolve(self, event_id: str) -> str:
        seen = set()
        while (e := self.events.get(event_id)) is not None and e.merged_into and event_id not in seen:
            seen.add(event_id)
            event_id = e.merged_into
        return event_id


def add_counts(into: dict, counts: Mapping) -> None:
    """Add ``counts`` (key → number) into ``into``, in place."""
    for k, v in counts.items():
        into[k] = into.get(k, 0) + v


def take_count(counts: dict, key, amount: float = 1) -> None:
    """Subtract ``amount`` from ``counts[key]`` in place, dropping the key at zero (or below, or
    within 1e-9 of it: float sums)."""
    if key in counts:
        left = counts[key] - amount
        if left > 1e-9:
            counts[key] = left
        else:
            del counts[key]


def add_nested_counts(into: dict, counts: Mapping[str, Mapping]) -> None:
    """Add ``counts`` (label → key → number) into ``into``, in place."""
    for label, keys in counts.items():
        add_counts(into.setdefault(label, {}), keys)


def _top_terms(word_sum: Mapping[int, float], k: int) -> list[int]:
    return [t for t, _ in sorted(word_sum.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def _main_day(days: Mapping[str, int]) -> str:
    """The most frequent day (the earliest of a tie)."""
    return min(days.items(), key=lambda kv: (-kv[1], kv[0]))[0]


_NAME_HASHER = FeatureHasher(n_features=N_FEATURES, input_type="dict", alternate_sign=False)


_NAME_BUCKETS: dict[str, int] = {}  # name feature -> its _NAME_HASHER bucket


def _names_row(names: Mapping[str, float]) -> sp.csr_matrix:
    """``_NAME_HASHER.transform([names])`` as a CSR matrix, the same one: each name's bucket is
    scikit-learn's (new names hashed in one call, then remembered), values as float64 with zero
    weights left out and indices sorted, as the hasher does. Where two names share a bucket the
    hasher itself sums them (its order of summation)."""
    new = [k for k in names if k not in _NAME_BUCKETS]
    if new:
        if len(_NAME_BUCKETS) > 500_000:
            _NAME_BUCKETS.clear()
        x = _NAME_HASHER.transform([{k: 1.0} for k in new])
        for k, b in zip(new, x.indices[x.indptr[:-1]].tolist(), strict=True):
            _NAME_BUCKETS[k] = b
    kept = [(_NAME_BUCKETS[k], float(v)) for k, v in names.items() if float(v) != 0.0]
    if len({b for b, _ in kept}) < len(kept):
        return _NAME_HASHER.transform([names]).tocsr()
    kept.sort()
    return sp.csr_matrix((np.fromiter((v for _, v in kept), np.float64, len(kept)),
                          np.fromiter((b for b, _ in kept), np.int32, len(kept)),
                          np.array([0, len(kept)], np.int32)), shape=(1, N_FEATURES))


def _sparse(d: Mapping[int, float]) -> sp.csr_matrix:
    if not d:
        return sp.csr_matrix((1, N_FEATURES), dtype=np.float64)
    idx = np.fromiter(d.keys(), dtype=np.int64, count=len(d))
    val = np.fromiter(d.values(), dtype=np.float64, count=len(d))
    return sp.csr_matrix((val, (np.zeros_like(idx), idx)), shape=(1, N_FEATURES))


_ONES = np.ones(N_FEATURES)  # what a row sum multiplies by (read only, made once: 2 MB)
_ONES.flags.writeable = False


def _unit(m: sp.csr_matrix) -> sp.csr_matrix:
    """``m`` with L2-normalized rows (all-zero rows stay zero): what scikit-learn's
    ``cosine_similarity`` does to each side (``normalize``: the same routine, on a copy)."""
    m = m.tocsr().astype(np.float64, copy=True)
    inplace_csr_row_normalize_l2(m)
    return m


def _unit_cosines(a: sp.csr_matrix, rows: sp.csr_matrix) -> np.ndarray:
    """Dot products of a unit row ``a`` (1 × D, sorted indices) with each unit row of ``rows``
    (CSR, sorted indices), the numbers of scikit-learn's ``cosine_similarity`` on the raw rows.
    Its sparse product sums, per pair, ``a[k] * row[k]`` over the shared columns ``k`` in
    increasing order, from 0.0; here each row's products with ``a``'s value at its columns (0.0
    where ``a`` has none: adding +0.0 changes no sum) are summed in the row's column order, which
    is the same order: the same sums, without its transposition and validation per call.
    ``cosine_similarity(a, vstack(rows))`` on raw rows is
    ``_unit_cosines(_unit(a), vstack([_unit(r) for r in rows]))``."""
    if not rows.shape[0]:
        return np.zeros(0)
    ai, ad = a.indices, a.data
    if not len(ai):
        return np.zeros(rows.shape[0])
    pos = np.minimum(np.searchsorted(ai, rows.indices), len(ai) - 1)
    xv = np.where(ai[pos] == rows.indices, ad[pos], 0.0)
    prod = sp.csr_matrix((rows.data * xv, rows.indices, rows.indptr), shape=rows.shape)
    return prod @ (_ONES if rows.shape[1] == N_FEATURES else np.ones(rows.shape[1]))


class EventClusterer:
    """Assigns articles to events one at a time (see the module docstring for the algorithm).

    ``add(article)`` takes an ``EnrichedArticle`` (or a mapping of its fields), ``add_features``
    precomputed :class:`~services.events.features.ArticleFeatures`; both return an
    :class:`Assignment` and save every changed state to ``store``.
    """

    def __init__(self, store: EventStore | None = None, params: EventParams | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self.params = params or EventParams()
        # event id -> (article count, words row, names row): vectors of a state, rebuilt when it grows
        self._vectors: dict[str, tuple[int, sp.csr_matrix, sp.csr_matrix]] = {}
        # article id -> the decoded features of its provisional record (see _features)
        self._decoded: dict[str, ArticleFeatures] = {}

    def _rows(self, e: EventState) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """The event's words and names rows, L2-normalized (:func:`_unit`), kept until it grows."""
        cached = self._vectors.get(e.event_id)
        if cached is None or cached[0] != e.size:
            cached = (e.size, _unit(_sparse(e.word_sum)), _unit(_names_row(e.names)))
            self._vectors[e.event_id] = cached
        return cached[1], cached[2]

    # --- scoring ----------------------------------------------------------------------------

    def _time_decay(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        g = _gap(a, b)
        if math.isinf(g):
            return 0.0
        return math.exp(-max(0.0, g - self.params.slack_days) / self.params.decay_days)

    @staticmethod
    def _agreement(days_a: Mapping[str, int], days_b: Mapping[str, int]) -> float:
        """The share of stated-day mentions the two sides have in common, in [0, 1]."""
        if not days_a or not days_b:
            return 0.0
        shared = sum(min(v, days_b.get(k, 0)) for k, v in days_a.items())
        return min(1.0, shared / min(sum(days_a.values()), sum(days_b.values())))

    def _day_factor(self, day_a: str | None, days_b: Mapping[str, int], weekday_a: int | None = None,
                    weekdays_b: Mapping[str, int] | None = None) -> float:
        """Multiplier from the stories' own days: 1 when they agree (or either is unknown),
        ``1 - day_conflict_penalty`` a day apart, ``1 - far_day_penalty`` two or more apart.
        ``days_b``: the other side's members' event days; its day is the most stated one.

        When one side knows only its story's weekday (an undated page saying "مساء الجمعة"),
        the weekdays are compared instead: the same weekday agrees, one apart (either way
        round the week) is a day's conflict, further is far. ``weekday_a`` / ``weekdays_b``
        (``"0"`` = Monday → articles) are the sides' weekdays."""
        p = self.params
        if day_a and days_b:
            d = abs(day_number(day_a) - day_number(_main_day(days_b)))
        else:  # a side with an event day has its weekday too (story_weekday)
            wb = (date.fromisoformat(_main_day(days_b)).weekday() if days_b
                  else int(_main_day(weekdays_b)) if weekdays_b else None)
            if weekday_a is None or wb is None:
                return 1.0
            d = min((weekday_a - wb) % 7, (wb - weekday_a) % 7)
        if d < 0.5:
            return 1.0
        return 1.0 - (p.day_conflict_penalty if d < 1.5 else p.far_day_penalty)

    def _preview_factor(self, day_a: str | None, upcoming_a: Mapping[str, int], size_a: int,
                        days_b: Mapping[str, int], upcoming_b: Mapping[str, int], size_b: int) -> float:
        """``1 - far_day_penalty`` when one side previews the other's day, else 1. A side
        previews a day when it looks forward to it (``upcoming``: ``MM-DD`` → articles) in most
        of its ``size`` articles: an agenda or a deadline story and the report of what happened
        on that day are two events. ``day_a``: side a's event day; ``days_b``: side b's
        members' event days."""
        def previews(upcoming: Mapping[str, int], size: int, day: str | None) -> bool:
            return bool(day) and 2 * upcoming.get(day[5:], 0) > size
        day_b = _main_day(days_b) if days_b else None
        if previews(upcoming_a, size_a, day_b) or previews(upcoming_b, size_b, day_a):
            return 1.0 - self.params.far_day_penalty
        return 1.0

    def _combine(self, cos_w: float, cos_n: float, nums: float, agree: float, day_factor: float,
                 decay: float, dated: bool) -> float:
        p = self.params
        if p.names_words_floor > 0 and cos_w < p.names_words_floor:
            cos_n *= cos_w / p.names_words_floor
        base = p.w_words * cos_w + p.w_names * cos_n + p.w_numbers * nums + p.w_days * agree
        return base * decay * day_factor * (1.0 if dated else 1.0 - p.undated_penalty)

    def score_many(self, f: ArticleFeatures, events: Sequence[EventState]) -> list[float]:
        """Scores of one article against each event (same order), each in [0, 1]."""
        if not events:
            return []
        rows = [self._rows(e) for e in events]
        cw = _unit_cosines(_unit(f.words), sp.vstack([r[0] for r in rows], format="csr"))
        cn = _unit_cosines(_unit(_names_row(f.names)), sp.vstack([r[1] for r in rows], format="csr"))
        interval = article_interval(f.time, self.params)
        upcoming = dict.fromkeys(f.upcoming, 1)  # one article: each day it looks forward to, once
        out = []
        for i, e in enumerate(events):
            shared = sum(1 for n in f.numbers if n in e.numbers)
            agree = self._agreement(f.days, e.days)
            if f.event_day and e.event_days and f.event_day == _main_day(e.event_days):
                agree = 1.0
            dated = f.time.kind != "ingested" and e.span_days is not None
            out.append(self._combine(float(cw[i]), float(cn[i]), min(1.0, shared / 3.0), agree,
                                     self._day_factor(f.event_day, e.event_days, f.weekday, e.weekdays)
                                     * self._preview_factor(f.event_day, upcoming, 1, e.event_days, e.upcoming, e.size),
                                     self._time_decay(interval, e.interval()), dated))
        return out

    def score_events(self, a: EventState, b: EventState) -> float:
        """Score between two events' states (the same blend, centroid to centroid)."""
        (wa, na), (wb, nb) = self._rows(a), self._rows(b)
        cw = _unit_cosines(wa, wb)[0]
        cn = _unit_cosines(na, nb)[0]
        shared = sum(1 for n in a.numbers if n in b.numbers)
        agree = self._agreement(a.days, b.days)
        day_a = _main_day(a.event_days) if a.event_days else None
        weekday_a = int(_main_day(a.weekdays)) if a.weekdays else None
        dated = a.span_days is not None and b.span_days is not None
        return self._combine(float(cw), float(cn), min(1.0, shared / 3.0), agree,
                             self._day_factor(day_a, b.event_days, weekday_a, b.weekdays)
                             * self._preview_factor(day_a, a.upcoming, a.size, b.event_days, b.upcoming, b.size),
                             self._time_decay(a.interval(), b.interval()), dated)

    # --- the stream -------------------------------------------------------------------------

    def add(self, article) -> Assignment:
        """Assign one enriched article (see :meth:`add_features`)."""
        return self.add_features(features_of(article))

    def query_for(self, f: ArticleFeatures) -> CandidateQuery:
        """What the store is asked for the candidates of one article (a store backed by a search
        engine can prefetch with it): its name features, its ``query_terms`` heaviest word
        buckets and its interval widened by ``window_days``."""
        p = self.params
        terms = tuple(int(t) for t, _ in sorted(zip(f.words.indices, f.words.data),
                                                 key=lambda kv: (-kv[1], kv[0]))[: p.query_terms])
        return CandidateQuery(names=tuple(sorted(f.names)), terms=terms,
                              interval_days=article_interval(f.time, p), window_days=p.window_days)

    def add_features(self, f: ArticleFeatures) -> Assignment:
        """Assign one article: join the best candidate above ``threshold`` or open an event;
        merge two events the article bridges. An article already assigned keeps its event.
        An article with time evidence then takes a second look at the pages without it: those
        of other events that fit its event better move to it (:meth:`_reassign`), and those of
        its event that no longer fit its dated members leave for their own (:meth:`_evict`)."""
        known = self.store.assignment(f.article_id)
        if known is not None:
            return Assignment(f.article_id, self.store.resolve(known), opened=False, score=None)
        p = self.params
        query = self.query_for(f)
        cands = sorted(self.store.candidates(query), key=EventState.age_key)
        scores = self.score_many(f, cands)
        ranked = sorted(zip(scores, cands), key=lambda sc: (-sc[0], sc[1].age_key()))
        if not ranked or ranked[0][0] < p.threshold:
            opened = self._open(f)
            return replace(opened, moved=self._reassign(f, query, self.store.get(opened.event_id), cands))
        best_score, best = ranked[0]
        timed = has_time_evidence(f)
        if not timed:
            for s, other in ranked[1:]:
                if s >= p.threshold and s >= (1.0 - p.recap_share) * best_score and self.recaps(best, other):
                    best_score, best = s, other
                    break
        self._absorb(best, f)
        merged: list[str] = []
        for s, other in ranked[1:]:
            if other is best:
                continue
            if s < p.merge_threshold or best_score < p.merge_threshold:
                break
            if not timed and self._days_differ(best, other):
                continue
            if self.score_events(best, other) >= p.merge_pair_threshold:
                survivor, loser = sorted((best, other), key=EventState.age_key)
                self._merge(survivor, loser)
                merged.append(loser.event_id)
                self.store.save(loser)
                best = survivor
        self.store.save(best)
        self.store.assign(f.article_id, best.event_id)
        cores: dict[str, EventState | None] = {}  # best's core, made once for both looks
        moved = self._reassign(f, query, best, cands, cores)
        return Assignment(f.article_id, best.event_id, opened=False, score=best_score, merged=tuple(merged),
                          moved=moved, evicted=self._evict(f, best, cores))

    # --- articles without time evidence: a second look --------------------------------------

    def _reassign(self, f: ArticleFeatures, query: CandidateQuery, event: EventState,
                  cands: Sequence[EventState], cores: dict | None = None) -> tuple[tuple[str, str], ...]:
        """After an article with time evidence joined or opened ``event``: every member without
        time evidence of the other candidate events moves to ``event`` if it fits it better by
        ``reassign_margin`` (and above ``threshold``). Such a page joined what was there when it
        came; a look-alike of its own story may have come first ("the walkie-talkie blasts"
        before "the pager blasts"). The other events are the article's candidates and the
        store's :meth:`~EventStore.provisional_candidates` (at any time: an undated page of 2020
        may sit in a 2023 look-alike). Each side is scored by its core: its members with time
        evidence (all but the page itself when it has none), so the undated pages an event
        gathered do not hold each other. When the page's event recaps ``event``
        (:meth:`recaps`), it moves if ``event`` fits it at least ``1 - recap_share`` as well, no
        margin; when ``event`` recaps the page's event, its score there counts
        ``1 - recap_share`` before the margin. A page that was alone leaves its empty event merged
        into ``event``. Returns ``(article_id, from_event_id)`` per move."""
        if not has_time_evidence(f):
            return ()
        p = self.params
        moves: list[tuple[str, str]] = []
        cores = {} if cores is None else cores
        others = {e.event_id: e for e in cands}
        others.update((e.event_id, e) for e in self.store.provisional_candidates(query))
        for other_id in sorted(others):
            other = others[other_id]
            if other_id == event.event_id or other.merged_into is not None or not other.provisional:
                continue
            other_core: EventState | None = None
            # pages without time evidence carry no days: a move changes neither side's recap
            other_recaps, event_recaps = self.recaps(other, event), self.recaps(event, other)
            for article_id, record in list(other.provisional.items()):
                g = self._features(record)
                s_new = self._score_core(g, self._core_of(event, cores))
                if s_new < p.threshold:
                    continue
                if other.size == 1:
                    s_old = 0.0
                else:
                    if other_core is None:
                        other_core = self._core(other)
                    s_old = self._score_core(g, other_core or self._without(other, g))
                if other_recaps:
                    better = s_new >= (1.0 - p.recap_share) * s_old
                elif event_recaps:
                    better = (1.0 - p.recap_share) * s_new > s_old + p.reassign_margin
                else:
                    better = s_new > s_old + p.reassign_margin
                if better:
                    self._move(g, other, event)
                    moves.append((article_id, other_id))
        return tuple(moves)

    def _core_of(self, event: EventState, cores: dict) -> EventState | None:
        """:meth:`_core` of ``event``, made once per ``cores`` (its dated members do not change
        while pages without time evidence move in or out)."""
        if event.event_id not in cores:
            cores[event.event_id] = self._core(event)
        return cores[event.event_id]

    def _evict(self, f: ArticleFeatures, event: EventState, cores: dict | None = None) -> tuple[tuple[str, str], ...]:
        """After an article with time evidence joined ``event``: each member without time
        evidence that scores under ``evict_share · threshold`` against the event's core (its
        members with time evidence) leaves for an event of its own (id from the page's and the
        event's ids), where a later article can still claim it. Such a page joined what was
        there when it came: another undated page, perhaps the agenda of the day whose report
        has now come ("الإعلان … في الحادي عشر من ديسمبر المقبل" beside the report of the
        announcement). The event keeps its id when its opener leaves. Returns ``(article_id, new_event_id)`` per page."""
        p = self.params
        if not has_time_evidence(f) or not event.provisional:
            return ()
        core = self._core_of(event, {} if cores is None else cores)
        if core is None:
            return ()
        out: list[tuple[str, str]] = []
        for article_id, record in list(event.provisional.items()):
            new_id = event_id_for(f"{article_id}|{event.event_id}")
            if self.store.get(new_id) is not None:
                continue
            g = self._features(record)
            if self._score_core(g, core) >= p.evict_share * p.threshold:
                continue
            state = EventState(event_id=new_id, opened_days=g.time.days)
            self._move(g, event, state)
            out.append((article_id, new_id))
        return tuple(out)

    @staticmethod
    def _days_differ(a: EventState, b: EventState) -> bool:
        """Both events have an event day, and not the same one."""
        return bool(a.event_days and b.event_days and _main_day(a.event_days) != _main_day(b.event_days))

    def recaps(self, later: EventState, earlier: EventState) -> bool:
        """Whether ``later`` is a follow-up that retells ``earlier``: ``earlier``'s day (its
        members' most frequent event day) is 1 to ``window_days`` days before ``later``'s, and
        ``later``'s members state it (``days``) at least once per two of its dated members (the
        walkie-talkie blasts' reports all say "the pager blasts of yesterday"). A mention years
        back (the previous emir's death in the report of this one's) is history, not a recap."""
        if not later.event_days or not earlier.event_days:
            return False
        d_later, d_earlier = _main_day(later.event_days), _main_day(earlier.event_days)
        if not 0 < day_number(d_later) - day_number(d_earlier) <= self.params.window_days:
            return False
        return 2 * later.days.get(d_earlier, 0) >= sum(later.event_days.values())

    def _features(self, record: Mapping) -> ArticleFeatures:
        """The features of a provisional record, decoded once per article (a record never
        changes: an article's features are a function of the article)."""
        f = self._decoded.get(record["article_id"])
        if f is None:
            if len(self._decoded) > 100_000:
                self._decoded.clear()
            f = self._decoded[record["article_id"]] = features_from_record(record)
        return f

    def _score_core(self, g: ArticleFeatures, core: EventState) -> float:
        score = self.score_many(g, [core])[0]
        self._vectors.pop(core.event_id, None)
        return score

    def _copy(self, e: EventState) -> EventState:
        """A scratch copy of ``e`` (its own count dicts, no provisional records) for scoring."""
        d = {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
             for k, v in e.__dict__.items() if k != "provisional"}
        d["entity_keys"] = {label: dict(keys) for label, keys in e.entity_keys.items()}
        return EventState(**{**d, "event_id": e.event_id + "#core"})

    def _core(self, e: EventState) -> EventState | None:
        """``e`` without its members that have no time evidence; ``None`` if it has no other."""
        if len(e.provisional) >= e.size:
            return None
        core = self._copy(e)
        for record in e.provisional.values():
            self._subtract(core, self._features(record))
        return core

    def _without(self, e: EventState, g: ArticleFeatures) -> EventState:
        core = self._copy(e)
        self._subtract(core, g)
        return core

    def _move(self, g: ArticleFeatures, src: EventState, dst: EventState) -> None:
        self._subtract(src, g)
        src.provisional.pop(g.article_id, None)
        self._absorb(dst, g)
        if src.size == 0:  # it was alone: its event is now part of dst
            src.merged_into = dst.event_id
        for e in (src, dst):  # the rows are cached by size, and src shrank: it may grow back to it
            self._vectors.pop(e.event_id, None)
        self.store.save(src)
        self.store.save(dst)
        self.store.assign(g.article_id, dst.event_id)

    def _open(self, f: ArticleFeatures) -> Assignment:
        state = EventState(event_id=event_id_for(f.article_id), opened_days=f.time.days)
        self._absorb(state, f)
        self.store.save(state)
        self.store.assign(f.article_id, state.event_id)
        return Assignment(f.article_id, state.event_id, opened=True, score=None)

    def _absorb(self, e: EventState, f: ArticleFeatures) -> None:
        """Add one article's features to an event's state (in place)."""
        e.article_ids.append(f.article_id)
        if not has_time_evidence(f):
            e.provisional[f.article_id] = features_record(f)
            keep_newest(e.provisional)
        src = f.source or ""
        e.sources[src] = e.sources.get(src, 0) + 1
        if f.title and len(e.titles) < 20:
            e.titles.append(f.title)
        ws = e.word_sum
        for i, v in zip(f.words.indices.tolist(), f.words.data.tolist()):
            ws[i] = ws.get(i, 0.0) + v
        self._prune(e)
        for k, v in f.names.items():
            e.names[k] = e.names.get(k, 0.0) + v
            label, _, key = k.partition(":")
            if label == "P":
                e.places[int(key)] = e.places.get(int(key), 0) + 1
            else:
                e.entity_keys.setdefault(label, {})
                e.entity_keys[label][key] = e.entity_keys[label].get(key, 0) + 1
        for d, c in f.days.items():
            e.days[d] = e.days.get(d, 0) + c
        if f.lead_day:
            e.lead_days[f.lead_day] = e.lead_days.get(f.lead_day, 0) + 1
        if f.event_day:
            e.event_days[f.event_day] = e.event_days.get(f.event_day, 0) + 1
        if f.weekday is not None:
            e.weekdays[str(f.weekday)] = e.weekdays.get(str(f.weekday), 0) + 1
        for d in f.upcoming:
            e.upcoming[d] = e.upcoming.get(d, 0) + 1
        for n in f.numbers:
            e.numbers[n] = e.numbers.get(n, 0) + 1
        lo, hi = article_interval(f.time, self.params)
        if f.time.kind == "ingested":
            e.ingested_days = [lo, hi] if e.ingested_days is None else [
                min(e.ingested_days[0], lo), max(e.ingested_days[1], hi)]
        else:
            e.span_days = [lo, hi] if e.span_days is None else [min(e.span_days[0], lo), max(e.span_days[1], hi)]

    def _subtract(self, e: EventState, f: ArticleFeatures) -> None:
        """Take one member's features out of an event's state (in place; the inverse of
        :meth:`_absorb` up to the pruned word buckets, and the intervals' hulls, which stay)."""
        if f.article_id in e.article_ids:
            e.article_ids.remove(f.article_id)
        take_count(e.sources, f.source or "")
        if f.title in e.titles:
            e.titles.remove(f.title)
        for i, v in zip(f.words.indices.tolist(), f.words.data.tolist()):
            if i in e.word_sum:
                take_count(e.word_sum, i, v)
        for k, v in f.names.items():
            take_count(e.names, k, v)
            label, _, key = k.partition(":")
            if label == "P":
                take_count(e.places, int(key))
            else:
                take_count(e.entity_keys.get(label, {}), key)
                if label in e.entity_keys and not e.entity_keys[label]:
                    del e.entity_keys[label]
        for d, c in f.days.items():
            take_count(e.days, d, c)
        for d, attr in ((f.lead_day, e.lead_days), (f.event_day, e.event_days)):
            if d:
                take_count(attr, d)
        if f.weekday is not None:
            take_count(e.weekdays, str(f.weekday))
        for d in f.upcoming:
            take_count(e.upcoming, d)
        for n in f.numbers:
            take_count(e.numbers, n)

    def _prune(self, e: EventState) -> None:
        if len(e.word_sum) > self.params.max_terms:
            keep = sorted(e.word_sum.items(), key=lambda kv: (-kv[1], kv[0]))[: self.params.max_terms]
            e.word_sum = dict(sorted(keep))

    def _merge(self, survivor: EventState, loser: EventState) -> None:
        """Fold ``loser`` into ``survivor`` (in place); ``loser.merged_into`` records it."""
        survivor.article_ids.extend(loser.article_ids)
        for attr in ("sources", "days", "lead_days", "event_days", "weekdays", "upcoming", "numbers", "places",
                     "word_sum", "names"):
            add_counts(getattr(survivor, attr), getattr(loser, attr))
        survivor.titles = (survivor.titles + loser.titles)[:20]
        self._prune(survivor)
        add_nested_counts(survivor.entity_keys, loser.entity_keys)
        for attr in ("span_days", "ingested_days"):
            a, b = getattr(survivor, attr), getattr(loser, attr)
            if b is not None:
                setattr(survivor, attr, list(b) if a is None else [min(a[0], b[0]), max(a[1], b[1])])
        survivor.opened_days = min(survivor.opened_days, loser.opened_days)
        survivor.provisional.update(loser.provisional)
        keep_newest(survivor.provisional)
        loser.provisional = {}
        loser.merged_into = survivor.event_id


def cluster_all(articles: Iterable, params: EventParams | None = None) -> dict[str, str]:
    """Convenience: assign a whole stream in order with a fresh :class:`MemoryStore`;
    ``{article_id: final event_id}`` (merges resolved)."""
    c = EventClusterer(MemoryStore(), params)
    ids = [c.add(a).article_id for a in articles]
    return {i: c.store.resolve(c.store.assignment(i)) for i in ids}

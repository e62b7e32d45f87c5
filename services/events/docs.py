"""Event documents: what an event shows people, built from its members (pure, no I/O).

The clusterer's :class:`~services.events.cluster.EventState` holds the evidence it scores by;
an :class:`EventSummary` beside it holds what the document shows: one small record per member
(outlet, headline, lead sentence, times, topic, its heaviest word buckets) and the gazetteer
entries of its places. :func:`event_document` turns both into the document of the contract
(``hadath-events``):

* ``title`` — the headline of the *most central* member: the one whose word vector has the
  largest dot product with the event's summed vector (ties: the earliest), else its lead;
* ``summary`` — the lead sentence of that member (:func:`lead_sentence`);
* ``article_count``, ``source_count``, ``sources`` (most articles first), ``article_ids``;
* ``first_published_at`` / ``last_published_at`` (``None`` when no member is dated),
  ``first_ingested_at`` / ``last_ingested_at``;
* ``event_date`` — the day the members' texts state most (ties: the earliest), else ``None``;
* ``entity_keys`` — per label the :data:`TOP_KEYS` canonical keys (as in the article documents'
  ``entity_keys``, so one ``--entity`` filter finds both) named by the most members, with the
  number of members naming each, and ``display``: the name as an article wrote it;
  ``places`` — with ``location`` for maps and the number of members naming each;
* ``topic`` — the members' majority topic (ties: alphabetical);
* ``trending`` — see :func:`trending`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.events.cluster import EventState, keep_newest, add_counts, add_nested_counts, take_count
from services.events.features import MAX_NAME_CHARS, ArticleFeatures, has_time_evidence
from shared.schemas import ENTITY_LABELS, EnrichedArticle

__all__ = ["TOP_KEYS", "MEMBER_TERMS", "MAX_MEMBERS", "TRENDING_WINDOW_HOURS", "Member", "EventSummary",
           "lead_sentence", "trending", "event_document", "candidate_fields"]

#: Keys per entity label an event document lists.
TOP_KEYS = 10
#: Word buckets kept per member (for centrality).
MEMBER_TERMS = 30
#: Members kept with their details (later ones count, and are listed in ``article_ids``, only).
MAX_MEMBERS = 300
#: The "recent" window of :func:`trending`, in hours.
TRENDING_WINDOW_HOURS = 6.0
#: How much of an event's own history :func:`trending` compares against, in windows.
TRENDING_HISTORY_WINDOWS = 8
#: Least recent articles, and outlets among them, for an event to be trending.
TRENDING_MIN_ARTICLES = 3
TRENDING_MIN_SOURCES = 2
#: Recent articles must be at least this many times the event's own mean per window before.
TRENDING_RISE = 2.0

_SENTENCE_END = re.compile(r"(?<=[.!?؟。])\s+|\n+")
_LEAD_MAX_CHARS = 400


def lead_sentence(text: str) -> str:
    """The first sentence of ``text`` of at least 25 characters (else its first line), cut at
    400 characters: ``str -> str`` (``""`` for an empty text)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text or "") if p and p.strip()]
    for p in parts:
        if len(p) >= 25:
            return p[:_LEAD_MAX_CHARS]
    return parts[0][:_LEAD_MAX_CHARS] if parts else ""


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(ts: str | None) -> datetime | None:
    return None if ts is None else datetime.fromisoformat(ts.replace("Z", "+00:00"))


@dataclass
class Member:
    """One member article as the event document needs it (times ISO 8601 UTC strings)."""

    article_id: str
    source: str | None
    title: str | None
    lead: str
    published_at: str | None
    ingested_at: str
    topic: str | None
    terms: dict[int, float] = field(default_factory=dict)

    @property
    def seen_at(self) -> str:
        """When the article tells of its event: ``published_at``, else ``ingested_at``."""
        return self.published_at or self.ingested_at


@dataclass
class EventSummary:
    """The display side of one event (serializable: :meth:`to_dict` / :meth:`from_dict`).

    ``members``: the first :data:`MAX_MEMBERS` members; ``extra_count``: members beyond them;
    ``place_info``: geonameid → ``{name, country_code, location, feature}``;
    ``topics`` / ``seen``: topic → members, and every member's ``seen_at`` (for trending);
    ``entity_counts``: label → canonical key (the article documents' ``entity_keys``) → members
    naming it; ``provisional``: article id → :meth:`record` of the members without time evidence
    the clusterer may still move (:data:`~services.events.cluster.MAX_PROVISIONAL`, the newest),
    so :meth:`remove` can take them out.
    """

    members: list[Member] = field(default_factory=list)
    extra_count: int = 0
    place_info: dict[int, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, int] = field(default_factory=dict)
    entity_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    entity_display: dict[str, dict[str, str]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    ingested: list[str] = field(default_factory=list)
    provisional: dict[str, dict[str, Any]] = field(default_factory=dict)

    @staticmethod
    def record(article: EnrichedArticle, f: ArticleFeatures) -> dict[str, Any]:
        """What one member adds to a summary, JSON-ready: ``member`` (a :class:`Member` as
        :meth:`to_dict` writes it), ``entities`` (``[label, key]`` pairs, once each), ``display``
        (``[label, key, text]``: the names as the article wrote them) and ``places``."""
        terms = sorted(zip(f.words.indices.tolist(), f.words.data.tolist()), key=lambda kv: (-kv[1], kv[0]))
        member = {"article_id": article.article_id, "source": article.source, "title": article.title,
                  "lead": lead_sentence(article.body), "published_at": _iso(article.published_at),
                  "ingested_at": _iso(article.ingested_at) or "", "topic": article.topic,
                  "terms": {str(k): v for k, v in terms[:MEMBER_TERMS]}}
        named = [e for e in article.entities if e.normalized and len(e.normalized) <= MAX_NAME_CHARS]
        return {"member": member,
                "entities": [list(pair) for pair in sorted({(e.label, e.normalized) for e in named})],
                "display": [[e.label, e.normalized, e.text] for e in named if len(e.text) <= MAX_NAME_CHARS],
                "places": [{"name": p.name, "geonameid": p.geonameid, "country_code": p.country_code,
                            "location": p.location.model_dump() if p.location else None, "feature": p.feature}
                           for p in article.places if p.geonameid is not None]}

    def add(self, article: EnrichedArticle, f: ArticleFeatures) -> None:
        """Record one member (in place); one without time evidence keeps its :meth:`record`."""
        self.add_record(self.record(article, f), provisional=not has_time_evidence(f))

    def add_record(self, rec: Mapping[str, Any], *, provisional: bool = False) -> None:
        """Add one member's :meth:`record` (in place), kept in ``provisional`` if so."""
        member = _member(rec["member"])
        if provisional:
            self.provisional[member.article_id] = dict(rec)
            keep_newest(self.provisional)
        if len(self.members) < MAX_MEMBERS:
            self.members.append(member)
        else:
            self.extra_count += 1
        if member.topic:
            self.topics[member.topic] = self.topics.get(member.topic, 0) + 1
        for label, key in rec["entities"]:
            keys = self.entity_counts.setdefault(label, {})
            keys[key] = keys.get(key, 0) + 1
        for label, key, text in rec["display"]:  # the name as the first article to name it wrote it
            self.entity_display.setdefault(label, {}).setdefault(key, text)
        self.seen.append(member.seen_at)
        self.seen = sorted(self.seen)[-(MAX_MEMBERS * 4):]
        if member.published_at:
            self.published = _hull(self.published + [member.published_at])
        self.ingested = _hull(self.ingested + [member.ingested_at])
        for p in rec["places"]:
            self.place_info.setdefault(p["geonameid"], dict(p))

    def remove(self, article_id: str) -> dict[str, Any] | None:
        """Take out a member kept in ``provisional`` (in place) and return its record (``None``,
        and nothing changes, for any other). The first/last seen hulls, the names as written
        and the place details stay: they only ever widen."""
        rec = self.provisional.pop(article_id, None)
        if rec is None:
            return None
        kept = [m for m in self.members if m.article_id != article_id]
        if len(kept) == len(self.members):
            self.extra_count = max(0, self.extra_count - 1)
        self.members = kept
        member = _member(rec["member"])
        take_count(self.topics, member.topic)
        for label, key in rec["entities"]:
            take_count(self.entity_counts.get(label, {}), key)
        if member.seen_at in self.seen:
            self.seen.remove(member.seen_at)
        return rec

    def merge(self, other: "EventSummary") -> None:
        """Fold ``other`` (a merged event's summary) into this one (in place)."""
        room = MAX_MEMBERS - len(self.members)
        self.members.extend(other.members[:max(0, room)])
        self.extra_count += other.extra_count + max(0, len(other.members) - max(0, room))
        add_counts(self.topics, other.topics)
        add_nested_counts(self.entity_counts, other.entity_counts)
        for label, forms in other.entity_display.items():
            mine_forms = self.entity_display.setdefault(label, {})
            for k, v in forms.items():
                mine_forms.setdefault(k, v)
        self.seen = sorted(self.seen + other.seen)[-(MAX_MEMBERS * 4):]
        self.published = _hull(self.published + other.published)
        self.ingested = _hull(self.ingested + other.ingested)
        for k, v in other.place_info.items():
            self.place_info.setdefault(k, v)
        self.provisional.update(other.provisional)
        keep_newest(self.provisional)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (int keys as strings)."""
        return {
            "members": [{**m.__dict__, "terms": {str(k): v for k, v in m.terms.items()}} for m in self.members],
            "extra_count": self.extra_count,
            "place_info": {str(k): v for k, v in self.place_info.items()},
            "topics": self.topics, "entity_counts": self.entity_counts,
            "entity_display": self.entity_display, "seen": self.seen, "published": self.published, "ingested": self.ingested,
            "provisional": self.provisional,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EventSummary":
        """Inverse of :meth:`to_dict`."""
        members = [_member(m) for m in d.get("members", [])]
        return cls(members=members, extra_count=int(d.get("extra_count", 0)),
                   place_info={int(k): v for k, v in d.get("place_info", {}).items()},
                   topics=dict(d.get("topics", {})),
                   entity_counts={k: dict(v) for k, v in d.get("entity_counts", {}).items()},
                   entity_display={k: dict(v) for k, v in d.get("entity_display", {}).items()},
                   seen=list(d.get("seen", [])),
                   published=list(d.get("published", [])), ingested=list(d.get("ingested", [])),
                   provisional=dict(d.get("provisional", {})))


def _member(m: Mapping[str, Any]) -> Member:
    """A :class:`Member` from its JSON form (``terms`` keys as strings)."""
    return Member(**{**m, "terms": {int(k): float(v) for k, v in m.get("terms", {}).items()}})


def _hull(values: Iterable[str]) -> list[str]:
    vals = sorted(v for v in values if v)
    return [vals[0], vals[-1]] if vals else []


def trending(seen: Sequence[str], sources_recent: int | None = None, *,
             window_hours: float = TRENDING_WINDOW_HOURS) -> tuple[bool, float, int]:
    """Whether an event is trending at its newest article: ``(trending, score, recent_count)``.

    After EMM NewsBrief's rule of a rapid rise in articles (Steinberger et al., "An introduction
    to the Europe Media Monitor family of applications", 2013): the articles of the last
    ``window_hours`` before the newest one (``recent_count``) against the event's own mean per
    window over the :data:`TRENDING_HISTORY_WINDOWS` windows before it. Trending when at least
    :data:`TRENDING_MIN_ARTICLES` are recent, from at least :data:`TRENDING_MIN_SOURCES`
    outlets (``sources_recent``; ``None`` = not checked), and they are at least
    :data:`TRENDING_RISE` times that mean (a new event's history is empty: mean taken as 1).
    ``score`` = recent / max(1, mean). Times are the members' ``seen_at`` (ISO 8601), so a replay
    gives the same answer; the flag is as of the event's last update.
    """
    times = sorted(t for t in (_parse(s) for s in seen) if t is not None)
    if not times:
        return False, 0.0, 0
    newest = times[-1]
    window = timedelta(hours=window_hours)
    recent = sum(1 for t in times if t > newest - window)
    start = newest - window * (TRENDING_HISTORY_WINDOWS + 1)
    before = [t for t in times if start < t <= newest - window]
    if before:
        span_windows = max(1.0, min(TRENDING_HISTORY_WINDOWS,
                                    math.ceil((newest - window - min(before)) / window)))
        mean = len(before) / span_windows
    else:
        mean = 0.0
    score = recent / max(1.0, mean)
    ok_sources = sources_recent is None or sources_recent >= TRENDING_MIN_SOURCES
    return (recent >= TRENDING_MIN_ARTICLES and ok_sources and score >= TRENDING_RISE), round(score, 3), recent


def _central(state: EventState, summary: EventSummary) -> Member | None:
    best, best_score = None, -1.0
    for m in summary.members:
        s = sum(v * state.word_sum.get(k, 0.0) for k, v in m.terms.items())
        if s > best_score + 1e-12:
            best, best_score = m, s
    return best


def _top(counts: Mapping[str, int], k: int) -> list[dict[str, Any]]:
    return [{"value": v, "count": c} for v, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def candidate_fields(state: EventState, index_terms: int = 12) -> dict[str, Any]:
    """The fields the events stage searches candidate events by (see
    :class:`services.events.cluster.CandidateQuery`): name features, heaviest word buckets and
    the event's interval in days (±1e12 for an open end); ``provisional_count``, its members
    without time evidence that may still move (searched at any time)."""
    lo, hi = state.interval()
    terms = [t for t, _ in sorted(state.word_sum.items(), key=lambda kv: (-kv[1], kv[0]))[:index_terms]]
    return {"cand_names": sorted(state.names), "cand_terms": terms,
            "interval_lo_days": -1e12 if math.isinf(lo) else lo, "interval_hi_days": 1e12 if math.isinf(hi) else hi,
            "provisional_count": len(state.provisional)}


def event_document(state: EventState, summary: EventSummary, *, updated_at: datetime | None = None,
                   merged_from: Sequence[str] = ()) -> dict[str, Any]:
    """The event document of the contract for ``state`` + ``summary`` (``_id`` = ``event_id``).

    A merged event (``state.merged_into`` set) keeps its record with ``article_count`` 0 and no
    ``article_ids``: its articles carry the surviving id.
    """
    updated = _iso(updated_at or datetime.now(UTC))
    doc: dict[str, Any] = {"event_id": state.event_id, "updated_at": updated,
                           "state": {"cluster": state.to_dict(), "summary": summary.to_dict()}}
    if state.merged_into is not None:
        doc.update(merged_into=state.merged_into, article_count=0, source_count=0, article_ids=[], sources=[])
        return doc
    central = _central(state, summary)
    recent_sources = None
    if summary.seen:
        newest = _parse(max(summary.seen))
        cut = newest - timedelta(hours=TRENDING_WINDOW_HOURS) if newest else None
        recent_sources = len({m.source for m in summary.members
                              if cut is not None and (_parse(m.seen_at) or newest) > cut})
    is_trending, score, recent = trending(summary.seen, recent_sources)
    day = None
    if state.days:
        day = sorted(state.days.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    sources = sorted(((s or "unknown"), n) for s, n in state.sources.items())
    doc.update(
        title=(central.title or central.lead) if central else None,
        summary=central.lead if central else None,
        article_count=state.size,
        source_count=len(state.sources),
        sources=[s for s, _ in sorted(sources, key=lambda kv: (-kv[1], kv[0]))],
        source_counts=_top(dict(sources), 1000),
        article_ids=list(state.article_ids),
        first_published_at=summary.published[0] if summary.published else None,
        last_published_at=summary.published[-1] if summary.published else None,
        first_ingested_at=summary.ingested[0] if summary.ingested else None,
        last_ingested_at=summary.ingested[-1] if summary.ingested else None,
        event_date=day,
        entity_keys={label: [{**x, "display": summary.entity_display.get(label, {}).get(x["value"], x["value"])}
                             for x in _top(summary.entity_counts.get(label, {}), TOP_KEYS)]
                     for label in ENTITY_LABELS},
        places=[{**summary.place_info.get(g, {"name": str(g), "geonameid": g}), "count": n}
                for g, n in sorted(state.places.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_KEYS]],
        topic=sorted(summary.topics.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if summary.topics else None,
        topic_counts=_top(summary.topics, 10),
        trending=is_trending, trending_score=score, recent_count=recent,
        merged_from=sorted(merged_from),
        **candidate_fields(state),
    )
    return doc

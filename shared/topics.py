"""Topic names of the pipeline (the contract's names), behind ``Settings.topic_prefix``.

``articles.enriched`` has **one partition**: the events stage reads it, and one partition means
one active events worker, the single writer of event documents (a second worker is a hot
standby that takes over on a rebalance), so two workers never open two events for one story.
Every other topic has ``HADATH_TOPIC_PARTITIONS`` (extract scales on ``articles.normalized``,
index on ``articles.clustered``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import Settings

RAW = "articles.raw"
INGESTED = "articles.ingested"
NORMALIZED = "articles.normalized"
ENRICHED = "articles.enriched"
CLUSTERED = "articles.clustered"
DEADLETTER = "articles.deadletter"
#: Alert matches (:class:`shared.schemas.AlertMatch`), written by the index stage.
ALERTS = "articles.alerts"

ALL = (RAW, INGESTED, NORMALIZED, ENRICHED, CLUSTERED, ALERTS, DEADLETTER)
#: Topics with a fixed partition count whatever ``HADATH_TOPIC_PARTITIONS`` says.
FIXED_PARTITIONS = {ENRICHED: 1}


@dataclass(frozen=True)
class Topics:
    """Fully prefixed topic names for one deployment (one ``HADATH_TOPIC_PREFIX``)."""

    raw: str
    ingested: str
    normalized: str
    enriched: str
    clustered: str
    deadletter: str
    alerts: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> "Topics":
        """Prefix every contract topic name with ``settings.topic_prefix``."""
        p = settings.topic_prefix
        return cls(raw=p + RAW, ingested=p + INGESTED, normalized=p + NORMALIZED,
                   enriched=p + ENRICHED, clustered=p + CLUSTERED, deadletter=p + DEADLETTER,
                   alerts=p + ALERTS)

    def all(self) -> tuple[str, ...]:
        """All seven names, in flow order (alert matches after the last stage, dead-letter last)."""
        return tuple(t for t in (self.raw, self.ingested, self.normalized, self.enriched, self.clustered,
                                 self.alerts, self.deadletter) if t)

    def partitions(self, name: str, settings: Settings) -> int:
        """Partitions a new topic ``name`` is created with (see the module docstring)."""
        prefix = settings.topic_prefix
        return FIXED_PARTITIONS.get(name[len(prefix):] if name.startswith(prefix) else name,
                                    settings.topic_partitions)

"""Topic names of the pipeline (the contract's names), behind ``Settings.topic_prefix``."""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import Settings

RAW = "articles.raw"
INGESTED = "articles.ingested"
NORMALIZED = "articles.normalized"
ENRICHED = "articles.enriched"
DEADLETTER = "articles.deadletter"

ALL = (RAW, INGESTED, NORMALIZED, ENRICHED, DEADLETTER)


@dataclass(frozen=True)
class Topics:
    """Fully prefixed topic names for one deployment (one ``HADATH_TOPIC_PREFIX``)."""

    raw: str
    ingested: str
    normalized: str
    enriched: str
    deadletter: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "Topics":
        """Prefix every contract topic name with ``settings.topic_prefix``."""
        p = settings.topic_prefix
        return cls(raw=p + RAW, ingested=p + INGESTED, normalized=p + NORMALIZED,
                   enriched=p + ENRICHED, deadletter=p + DEADLETTER)

    def all(self) -> tuple[str, ...]:
        """All five names, in flow order (dead-letter last)."""
        return (self.raw, self.ingested, self.normalized, self.enriched, self.deadletter)

"""Pydantic v2 models for every message on every topic, and for the indexed document.

Each message carries ``schema_version``; a consumer validates the bytes it reads with
``Model.model_validate_json`` and sends what fails to ``articles.deadletter``.

Offsets (``start``/``end``) are Python string indices (Unicode code points) into the *original*
story text (``IngestedArticle.body``), end exclusive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

SCHEMA_VERSION = 1

EntityLabel = Literal["PERS", "LOC", "ORG", "MISC"]
ENTITY_LABELS: tuple[str, ...] = ("PERS", "LOC", "ORG", "MISC")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = SCHEMA_VERSION


class RawArticle(_Message):
    """What a producer sends to ``articles.raw`` (JSON object).

    ``body`` is required and may be plain text, HTML or a whole scraped page (ingest splits
    it). ``published_at`` may be ISO 8601 or an Arabic date ("الخميس 4 يناير 2024").
    The gate keeps unknown fields apart (:attr:`StoryFields.extra`) and turns a number in a text
    field into text before validating; other wrong types are rejected (dead-lettered with the
    reason).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    schema_version: int = SCHEMA_VERSION
    id: StrictStr | None = None
    source: StrictStr | None = None
    url: StrictStr | None = None
    title: StrictStr | None = None
    body: StrictStr
    published_at: StrictStr | None = None
    category: StrictStr | None = None
    language: StrictStr | None = None
    content_type: Literal["text/plain", "text/html"] | None = None


class StoryFields(BaseModel):
    """A story's own fields, shared by every message after the gate and the indexed document.

    ``body`` is the story text (HTML stripped, boilerplate removed): every later offset points
    into it. ``parent_id`` links a story embedded in another page to that page's main story.
    ``extra`` holds the fields a producer sent that Hadath does not know (``author``, ``tags``,
    ...), kept as sent (at most ``services.ingest.gate.EXTRA_MAX_BYTES`` of JSON); stored with
    the document, not searched. ``author`` is the producer's own ``author``/``authors`` when
    sent, else the page's byline ("بقلم ...", "كتب: ..."); ``dateline_place`` and ``agency`` come
    from the story's lead dateline (``بغداد "أ ف ب":`` → ``بغداد``, ``AFP``) or its source line
    ("المصدر: رويترز" → ``Reuters``); agencies are canonical names
    (``services.ingest.furniture.AGENCIES``). Each is ``None`` when the page does not say.
    """

    article_id: str
    parent_id: str | None = None
    source: str | None = None
    url: str | None = None
    title: str | None = None
    body: str
    published_at: datetime | None = None
    ingested_at: datetime
    language: str = "ar"
    category: str | None = None
    extra: dict[str, Any] | None = None
    author: str | None = None
    dateline_place: str | None = None
    agency: str | None = None


class IngestedArticle(_Message, StoryFields):
    """One story after the gate (``articles.ingested``), keyed by ``article_id``;
    ``content_hash`` is the SHA-256 of its whitespace-collapsed body.

    Messages between stages ignore fields they do not know (unlike :class:`RawArticle`): a
    message written by an older version of a stage (which carried token and offset lists) is
    still read after an upgrade, never dead-lettered for a field nobody reads.
    """

    model_config = ConfigDict(extra="ignore")

    content_hash: str


class NormalizedArticle(IngestedArticle):
    """``articles.normalized``: the ingested story plus its normalized forms.

    ``normalized_title`` / ``normalized_body`` are ``title`` / ``body`` through the one
    normalization table (:func:`shared.arabic.normalize`); ``signature`` is the near-duplicate
    MinHash signature of the body (:func:`shared.neardup.signature`). Offsets of later stages
    point into the original ``body``.
    """

    normalized_title: str = ""
    normalized_body: str
    signature: str | None = None


class Entity(BaseModel):
    """A named entity mention: ``text == body[start:end]``; ``normalized`` is its canonical key."""

    text: str
    label: EntityLabel
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    normalized: str
    score: float | None = None


class GeoPoint(BaseModel):
    """WGS84 coordinates in decimal degrees."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Place(BaseModel):
    """A LOC entity linked to a gazetteer entry (GeoNames id, ISO 3166-1 alpha-2 country code)."""

    name: str
    geonameid: int | None = None
    country_code: str | None = None
    location: GeoPoint | None = None
    feature: Literal["country", "city", "region", "other"] | None = None


class DateMention(BaseModel):
    """A date expression resolved to an ISO 8601 value (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``)."""

    text: str
    value: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


#: The six sections of the news corpus the topic classifier learnt (services/events/topic.py).
Topic = Literal["culture", "economy", "internationalNews", "middleEast", "sport", "technology"]


class Findings(BaseModel):
    """What extract (and, for ``duplicate_of``, index) found in a story.

    ``topic`` is the predicted section of the story (the feed's own ``category`` stays beside it).
    """

    entities: list[Entity] = Field(default_factory=list)
    places: list[Place] = Field(default_factory=list)
    dates: list[DateMention] = Field(default_factory=list)
    topic: Topic | None = None
    duplicate_of: str | None = None


class EnrichedArticle(NormalizedArticle, Findings):
    """``articles.enriched``: the normalized story plus what extract found."""

    recognizer: str | None = None


class ClusteredArticle(EnrichedArticle):
    """``articles.clustered``: the enriched story plus the event the events stage put it in
    (``event_id``, see :mod:`services.events.cluster`). Key: ``article_id``."""

    event_id: str


class EventReassignment(_Message):
    """``articles.clustered``: an article already sent with ``merged_from`` now belongs to
    ``event_id`` (its event was merged into that one, or — a page without time evidence — it
    moved to that event, which fits it better, or left ``merged_from`` for an event of its own,
    no longer fitting it). Key: ``article_id``, so it follows the article's own message on the
    same partition."""

    kind: Literal["reassign"] = "reassign"
    article_id: str
    event_id: str
    merged_from: str


class ArticleDocument(StoryFields, Findings):
    """The article document in Elasticsearch (``_id`` = ``article_id``, alias
    ``HADATH_INDEX_ALIAS``): the contract's article document fields."""

    event_id: str | None = None

    @classmethod
    def from_enriched(cls, art: EnrichedArticle) -> "ArticleDocument":
        """Project an enriched (or clustered) message onto the document fields."""
        return cls.model_validate(art.model_dump(include=set(cls.model_fields)))


class DeadLetter(_Message):
    """``articles.deadletter``: a message a stage could not process, with the reason.

    ``payload`` is the original message whole: its UTF-8 text, or base64 of its bytes when they
    are not valid UTF-8 (``payload_encoding`` says which). ``key`` likewise (``key_encoding``;
    ``None`` in records written before that field existed).
    """

    stage: Literal["feed", "ingest", "normalize", "extract", "events", "index"]
    error_type: str
    error_message: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    key_encoding: Literal["utf-8", "base64"] | None = None
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    failed_at: datetime


class AlertMatch(_Message):
    """``articles.alerts``: a new article matched the saved alert ``alert``
    (``hadath alerts add``); key ``article_id``. The same JSON is POSTed to the alert's webhook.

    ``matched_at`` is when the index stage percolated the article (UTC), right after writing it.
    """

    alert: str
    article_id: str
    event_id: str | None = None
    title: str | None = None
    source: str | None = None
    matched_at: datetime

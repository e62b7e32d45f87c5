"""The one settings class of Hadath: every environment variable name is derived from it.

Each field ``foo_bar`` is read from ``HADATH_FOO_BAR``; nothing else in the code base types a
setting name by hand.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    """Folder for downloads, server state, logs and pid files (outside git)."""
    return Path.home() / ".cache" / "hadath"


class Settings(BaseSettings):
    """Runtime settings, read from ``HADATH_*`` environment variables (frozen once read).

    Attributes:
        kafka_bootstrap: Kafka bootstrap servers, ``host:port[,host:port]`` (``HADATH_KAFKA_BOOTSTRAP``).
        es_url: Elasticsearch URL (``HADATH_ES_URL``).
        es_user: user for HTTP basic authentication to Elasticsearch (``HADATH_ES_USER``,
            default ``elastic``).
        es_password: that user's password (``HADATH_ES_PASSWORD``). Unset (None): read from
            ``$HADATH_HOME/secrets/elastic.password``, which the first ``hadath infra up``
            generates (mode 0600); an empty value sends no credentials (a cluster without
            security). Never printed: a :class:`~pydantic.SecretStr`.
        index_alias: alias of the article documents, the one search, indexing and Kibana use;
            the concrete index behind it is named by :func:`shared.es.index_name`
            (``HADATH_INDEX_ALIAS``; ``hadath-events`` before events existed: such an
            installation is migrated at start-up, see :func:`shared.es.ensure_index`).
        events_alias: alias of the event documents (``HADATH_EVENTS_ALIAS``).
        events_assign: whether the events stage clusters (``HADATH_EVENTS_ASSIGN``, default
            true); false makes it a pass-through that gives each article an event of its own and
            writes no event document (to measure what clustering costs, ``bench/bench_pipeline.py
            --compare-events``).
        topic_prefix: prefix put before every topic name, for isolated test runs
            (``HADATH_TOPIC_PREFIX``).
        topic_partitions: partitions of every topic this project creates (``HADATH_TOPIC_PARTITIONS``).
        group_prefix: prefix of every consumer group / Faust app id (``HADATH_GROUP_PREFIX``).
        home: folder for local infrastructure downloads, data, logs and pid files (``HADATH_HOME``).
        max_message_bytes: largest record ``hadath feed`` sends and the broker accepts, in bytes
            (``HADATH_MAX_MESSAGE_BYTES``).
        recognizer: entity recognizer the extract service uses: ``bilstm`` (default: the
            shipped BiLSTM-CRF, numpy inference), ``crf`` (the shipped offline CRF),
            ``gazetteer`` (places only) or ``camel`` (CAMeL Tools BERT)
            (``HADATH_RECOGNIZER``).
        ner_model_dir: folder of a CAMeL Tools / Hugging Face token-classification model for the
            ``camel`` recognizer (``HADATH_NER_MODEL_DIR``).
        index_batch_size: documents per Elasticsearch bulk request (``HADATH_INDEX_BATCH_SIZE``).
        index_batch_seconds: longest wait to fill a bulk batch, seconds (``HADATH_INDEX_BATCH_SECONDS``).
        handler_timeout_seconds: base time budget of one call of a stage's handler, seconds; a
            message that runs over its budget is dead-lettered with ``error_type`` ``timeout``
            (``HADATH_HANDLER_TIMEOUT_SECONDS``; see :func:`shared.streaming.time_budget_seconds`).
        handler_min_bytes_per_second: the budget grows by one second per this many input bytes,
            so a large article is not taken for a stuck one (``HADATH_HANDLER_MIN_BYTES_PER_SECOND``).
        metrics_host: address every service serves its Prometheus ``/metrics`` on
            (``HADATH_METRICS_HOST``, default ``127.0.0.1``; ``0.0.0.0`` in containers).
        metrics_port: base port of the metrics servers; each process adds its offset
            (:func:`shared.metrics.metrics_port`); 0 lets the system pick a free port
            (``HADATH_METRICS_PORT``, default 9400).
        process_name: this process's name (``ingest``, ``extract-2``, …): picks its metrics port
            and the file its metrics URL is written to; set by ``hadath services up``
            (``HADATH_PROCESS_NAME``; unset: the service's name).
        alerts_alias: alias of the percolator index of saved alert queries (``HADATH_ALERTS_ALIAS``;
            it must not start with ``<index_alias>-``, the article template's pattern).
        alerts_webhook_attempts: tries of one alert webhook POST before it is given up
            (``HADATH_ALERTS_WEBHOOK_ATTEMPTS``).
        web_host: address the search page (``python -m services.web``) listens on
            (``HADATH_WEB_HOST``, default ``127.0.0.1``: this machine only; a container sets
            ``0.0.0.0`` and publishes the port on the host's loopback).
        web_port: its TCP port (``HADATH_WEB_PORT``, default 8080).
    """

    model_config = SettingsConfigDict(env_prefix="HADATH_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    es_url: str = "http://127.0.0.1:9200"
    es_user: str = "elastic"
    es_password: SecretStr | None = None
    index_alias: str = "hadath-articles"
    events_alias: str = "hadath-events"
    events_assign: bool = True
    topic_prefix: str = ""
    topic_partitions: int = Field(default=8, ge=1)
    group_prefix: str = "hadath"
    home: Path = Field(default_factory=_default_home)
    max_message_bytes: int = Field(default=1_000_000, ge=1024)
    recognizer: str = "bilstm"
    ner_model_dir: Path | None = None
    index_batch_size: int = Field(default=500, ge=1)
    index_batch_seconds: float = Field(default=0.25, gt=0)
    handler_timeout_seconds: float = Field(default=30.0, gt=0)
    handler_min_bytes_per_second: int = Field(default=10_000, ge=1)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9400, ge=0, le=65000)
    process_name: str | None = None
    alerts_alias: str = "hadath-alerts"
    alerts_webhook_attempts: int = Field(default=5, ge=1)
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)

    def group_id(self, service: str) -> str:
        """Consumer group (and Faust app id) of ``service``, e.g. ``hadath-extract``."""
        return f"{self.group_prefix}-{service}"


def env_name(field: str) -> str:
    """The environment variable that sets ``field`` of :class:`Settings` (``HADATH_<FIELD>``)."""
    if field not in Settings.model_fields:
        raise KeyError(field)
    return f"{Settings.model_config['env_prefix']}{field.upper()}"


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce ``settings`` in a child process (unset fields
    omitted; secrets such as ``HADATH_ES_PASSWORD`` in clear, as the child needs them)."""
    env = {}
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:
            env[env_name(name)] = str(value)
    return env

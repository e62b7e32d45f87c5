"""Prometheus metrics of the services (prometheus-client), served on ``HADATH_METRICS_HOST``.

Every service process serves ``/metrics`` over HTTP (:func:`start_metrics_server`) on
``127.0.0.1`` by default, at port ``HADATH_METRICS_PORT`` plus a fixed offset per process
(:func:`metrics_port`): ``ingest`` +0, ``normalize`` +1, ``events`` +2, ``index`` +3,
``extract-N`` +10+N (``extract`` alone, as in a container, +10). A port already taken (two
pipelines on one machine, the integration tests) falls back to one the system picks; the URL
really served is written to ``<home>/run/<group_prefix>/<process>.metrics`` where ``hadath
services status --json`` reads it (``metrics_url``). ``HADATH_METRICS_PORT=0`` always lets the
system pick.

Metrics (label ``stage`` = ingest, normalize, extract, events, index):

==========================================  =========  =============================================
``hadath_messages_in_total``                counter    messages consumed (batches handed to a stage)
``hadath_messages_out_total``               counter    records delivered to the output topic; for
                                                       ``index``: documents written to Elasticsearch
``hadath_messages_dead_lettered_total``     counter    messages sent to ``articles.deadletter``
                                                       (label ``error_type``)
``hadath_batch_seconds``                    histogram  wall time of one batch, read to acknowledged
``hadath_consumer_lag_messages``            gauge      messages after the last one processed, per
                                                       ``topic`` and ``partition`` (highwater based)
``hadath_es_retries_total``                 counter    Elasticsearch calls (or bulk items) retried
                                                       after a transient failure (label ``operation``)
``hadath_es_rejections_total``              counter    documents Elasticsearch refused (dead-lettered)
``hadath_alerts_matched_total``             counter    alert matches produced to ``articles.alerts``
``hadath_webhook_deliveries_total``         counter    alert webhook POSTs (label ``result``:
                                                       ``ok``, ``failed``, ``dropped``)
``hadath_messages_in_last_minute``          gauge      messages consumed in the last 60 s
``hadath_messages_out_last_minute``         gauge      records delivered in the last 60 s
``hadath_consumer_lag_max_last_minute``     gauge      largest summed lag seen in the last 60 s
``process_resident_memory_bytes`` …         gauge      the client's process collector (Linux)
==========================================  =========  =============================================
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from shared.settings import Settings

log = logging.getLogger("hadath.metrics")

STAGES = ("ingest", "normalize", "extract", "events", "index")
#: Port offsets from ``HADATH_METRICS_PORT`` per process (``extract-N`` gets ``extract`` + N).
PORT_OFFSETS = {"ingest": 0, "normalize": 1, "events": 2, "index": 3, "extract": 10}
#: Width of the ``*_last_minute`` windows, seconds.
WINDOW_SECONDS = 60.0
#: Batch latency buckets, seconds (a batch waits up to ``batch_seconds`` to fill, then runs).
BATCH_BUCKETS_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def metrics_port(settings: Settings, process: str) -> int:
    """The port of ``process`` (``ingest``, ``extract-3``, …): ``HADATH_METRICS_PORT`` plus its
    offset (:data:`PORT_OFFSETS`); 0 when ``HADATH_METRICS_PORT`` is 0 (the system picks).

    Raises:
        ValueError: an unknown process name.
    """
    service, _, n = process.partition("-")
    if service not in PORT_OFFSETS or (n and not n.isdigit()):
        raise ValueError(f"unknown process {process!r}")
    if settings.metrics_port == 0:
        return 0
    return settings.metrics_port + PORT_OFFSETS[service] + (int(n) if n else 0)


def metrics_file(settings: Settings, process: str) -> Path:
    """Where ``process`` writes the URL it serves metrics on (next to its pid file)."""
    return settings.home / "run" / settings.group_prefix / f"{process}.metrics"


class Window:
    """Events in the last :data:`WINDOW_SECONDS`: ``add(n)`` counts, ``total()`` sums, ``peak()``
    is the largest value ``record``-ed (thread-safe; old entries drop out as time passes)."""

    def __init__(self, seconds: float = WINDOW_SECONDS, clock=time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._items: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()

    def _trim(self, now: float) -> None:
        while self._items and self._items[0][0] < now - self.seconds:
            self._items.popleft()

    def add(self, value: float) -> None:
        """Record ``value`` now (a count for :meth:`total`, a level for :meth:`peak`)."""
        with self._lock:
            now = self._clock()
            self._items.append((now, value))
            self._trim(now)

    record = add

    def total(self) -> float:
        """Sum of the values recorded in the window."""
        with self._lock:
            self._trim(self._clock())
            return sum(v for _, v in self._items)

    def peak(self) -> float:
        """Largest value recorded in the window (0 when none)."""
        with self._lock:
            self._trim(self._clock())
            return max((v for _, v in self._items), default=0.0)


class StageMetrics:
    """The metric objects of one process (see the module docstring), registered in ``registry``.

    One instance per process (:func:`stage_metrics`); tests make their own with a fresh
    :class:`~prometheus_client.CollectorRegistry`.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.messages_in = Counter("hadath_messages_in", "Messages consumed by the stage.", ["stage"],
                                   registry=registry)
        self.messages_out = Counter("hadath_messages_out", "Records delivered to the stage's output topic "
                                    "(index: documents written to Elasticsearch).", ["stage"], registry=registry)
        self.dead_lettered = Counter("hadath_messages_dead_lettered", "Messages sent to the dead-letter topic.",
                                     ["stage", "error_type"], registry=registry)
        self.batch_seconds = Histogram("hadath_batch_seconds", "Wall time of one batch, from read to acknowledged.",
                                       ["stage"], buckets=BATCH_BUCKETS_SECONDS, registry=registry)
        self.lag = Gauge("hadath_consumer_lag_messages", "Messages in the partition after the last one processed.",
                         ["stage", "topic", "partition"], registry=registry)
        self.es_retries = Counter("hadath_es_retries", "Elasticsearch calls or bulk items retried after a "
                                  "transient failure.", ["stage", "operation"], registry=registry)
        self.es_rejections = Counter("hadath_es_rejections", "Documents Elasticsearch refused (dead-lettered).",
                                     ["stage"], registry=registry)
        self.alerts_matched = Counter("hadath_alerts_matched", "Alert matches produced to articles.alerts.",
                                      ["alert"], registry=registry)
        self.webhooks = Counter("hadath_webhook_deliveries", "Alert webhook POSTs by result.", ["result"],
                                registry=registry)
        self._recent: dict[tuple[str, str], Window] = {}
        self._lag_by_partition: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        registry.register(_RecentCollector(self))

    def _window(self, kind: str, stage: str) -> Window:
        with self._lock:
            return self._recent.setdefault((kind, stage), Window())

    def count_in(self, stage: str, n: int) -> None:
        """``n`` messages consumed by ``stage``."""
        self.messages_in.labels(stage).inc(n)
        self._window("in", stage).add(n)

    def count_out(self, stage: str, n: int) -> None:
        """``n`` records delivered (or documents written) by ``stage``."""
        self.messages_out.labels(stage).inc(n)
        self._window("out", stage).add(n)

    def count_dead_letter(self, stage: str, error_type: str) -> None:
        """One message of ``stage`` dead-lettered with ``error_type``."""
        self.dead_lettered.labels(stage, error_type).inc()

    def set_lag(self, stage: str, topic: str, partition: int, lag_messages: int) -> None:
        """The lag of one partition now; the summed lag feeds the last-minute peak."""
        self.lag.labels(stage, topic, str(partition)).set(lag_messages)
        with self._lock:
            self._lag_by_partition[(stage, topic, partition)] = lag_messages
            total = sum(v for (s, _, _), v in self._lag_by_partition.items() if s == stage)
        self._window("lag", stage).record(total)

    def recent(self) -> Iterable[tuple[str, str, float]]:
        """``(kind, stage, value)`` of every window: kinds ``in``/``out`` (sums), ``lag`` (peak)."""
        with self._lock:
            items = list(self._recent.items())
        for (kind, stage), window in items:
            yield kind, stage, (window.peak() if kind == "lag" else window.total())


class _RecentCollector:
    """Exposes the last-minute windows of :class:`StageMetrics` as gauges at scrape time."""

    def __init__(self, metrics: StageMetrics) -> None:
        self.metrics = metrics

    def describe(self):  # noqa: ANN201 - prometheus-client protocol
        return []

    def collect(self):  # noqa: ANN201 - prometheus-client protocol
        names = {"in": ("hadath_messages_in_last_minute", "Messages consumed in the last 60 s."),
                 "out": ("hadath_messages_out_last_minute", "Records delivered in the last 60 s."),
                 "lag": ("hadath_consumer_lag_max_last_minute", "Largest summed consumer lag in the last 60 s.")}
        families = {k: GaugeMetricFamily(n, h, labels=["stage"]) for k, (n, h) in names.items()}
        for kind, stage, value in self.metrics.recent():
            families[kind].add_metric([stage], value)
        yield from families.values()


_METRICS: StageMetrics | None = None
_METRICS_LOCK = threading.Lock()


def stage_metrics() -> StageMetrics:
    """The process's :class:`StageMetrics` (created and registered on first use)."""
    global _METRICS
    with _METRICS_LOCK:
        if _METRICS is None:
            _METRICS = StageMetrics()
        return _METRICS


def start_metrics_server(settings: Settings, process: str) -> str:
    """Serve ``/metrics`` of this process on ``HADATH_METRICS_HOST`` at :func:`metrics_port`
    (a port in use: one the system picks) and write the URL to :func:`metrics_file` when the
    run folder exists. Returns the URL, e.g. ``http://127.0.0.1:9403/metrics``.

    Raises:
        OSError: the host cannot be bound at all.
    """
    from prometheus_client import start_http_server

    stage_metrics()
    port = metrics_port(settings, process)
    try:
        server, _ = start_http_server(port, addr=settings.metrics_host)
    except OSError as exc:
        if port == 0:
            raise
        log.warning("metrics port %d is taken (%s); serving on a free port instead", port, exc)
        server, _ = start_http_server(0, addr=settings.metrics_host)
    host = settings.metrics_host if settings.metrics_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    url = f"http://{host}:{server.server_port}/metrics"
    path = metrics_file(settings, process)
    if path.parent.is_dir():
        path.write_text(url + "\n")
    log.info("metrics of %s on %s", process, url)
    return url


def metrics_url(settings: Settings, process: str) -> str | None:
    """The URL ``process`` serves its metrics on: what it wrote to :func:`metrics_file`, else
    the one its port would give (None when ``HADATH_METRICS_PORT`` is 0 and nothing was written)."""
    path = metrics_file(settings, process)
    if path.is_file():
        text = path.read_text().strip()
        if text:
            return text
    try:
        port = metrics_port(settings, process)
    except ValueError:
        return None
    host = settings.metrics_host if settings.metrics_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{port}/metrics" if port else None


def parse_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a ``/metrics`` page: ``{(name, sorted label pairs): value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out

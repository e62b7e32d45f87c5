"""Fault tests on the real Kafka and Elasticsearch (issue #8, item 9).

Each test runs an isolated pipeline (its own topics, groups and index), injects a fault while
articles flow, and asserts the exact outcome: every article fed is indexed once (the document
count equals the number of distinct articles, the set of ``article_id`` equals the set fed) and
the dead-letter topic holds exactly what it should (here: nothing).

* SIGKILL of each service, then of Kafka, then of Elasticsearch, during a feed of 2,000 articles;
* SIGTERM of the index service while Elasticsearch is down;
* a storm of HTTP 429 answers (whole bulk requests, then single bulk items) from a
  fault-injecting proxy in front of the real Elasticsearch.

The servers killed are those of ``Settings.home`` (their pids are read from ``<home>/run``, as
``hadath infra`` wrote them); a test that finds no such server (one started otherwise) skips.
The articles are generated here from word lists, so the tests need nothing from ``../shared``.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import http.server
import json
import os
import random
import signal
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from elasticsearch import helpers

from services.ingest.ids import article_id
from hadath import infra, processes
from shared.es import client
from hadath.kafka_admin import pipeline_status
from hadath.sandbox import Pipeline
from shared.settings import Settings, env_name

pytestmark = pytest.mark.integration

T = TypeVar("T")

#: How often the tests look at lag, counts and logs while they wait, in seconds.
POLL_SECONDS = 0.5


def _quiet(*_: object) -> None:
    """A progress callback that prints nothing."""


def _log(message: str) -> None:
    """A timestamped line on the test's output (shown with ``pytest -s`` or on failure)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- articles

_SOURCES = [
    ("وكالة الأنباء المستقلة", "mustaqilla"), ("صحيفة الصباح الجديد", "sabah"),
    ("موقع النهار العربي", "nahar"), ("إذاعة المدينة", "madina-fm"), ("قناة الأفق", "ufuq"),
    ("صحيفة الوطن اليوم", "watan-today"), ("مجلة الاقتصاد والأعمال", "iqtisad"),
    ("شبكة الأخبار المحلية", "mahalliya"), ("بوابة الشرق", "sharq"), ("صحيفة الضفتين", "daffatain"),
    ("نشرة الساحل", "sahil"), ("موقع المرصد", "marsad"),
]
_PEOPLE = ["سامر الحداد", "ليلى منصور", "خالد العمري", "نادية الشامي", "يوسف القاسم", "هدى السعدي",
           "عمر الزين", "رنا الخطيب", "طارق البنا", "سلمى الراشد", "فادي النجار", "منى الحلبي",
           "كريم العطار", "دينا الفارس", "باسل الصافي", "عبير الكردي"]
_ROLES = ["وزير الزراعة", "رئيس البلدية", "المتحدث باسم الحكومة", "مدير المستشفى الجامعي",
          "رئيس الغرفة التجارية", "محافظ البنك المركزي", "نقيب المعلمين", "مدير الدفاع المدني",
          "وزيرة الصحة", "رئيس هيئة الموانئ"]
_PLACES = ["عمّان", "بيروت", "تونس", "الرباط", "القاهرة", "دمشق", "بغداد", "الدوحة", "مسقط",
           "الخرطوم", "طرابلس", "الكويت", "الجزائر", "صنعاء", "المنامة", "أبوظبي", "نواكشوط", "جدة"]
_ORGS = ["جامعة الدول العربية", "جمعية الهلال الأحمر", "البنك الدولي", "منظمة الصحة العالمية",
         "وزارة التربية والتعليم", "هيئة الأرصاد الجوية", "الاتحاد الأفريقي", "غرفة التجارة والصناعة",
         "نقابة المهندسين", "بلدية العاصمة"]
_SUBJECTS = ["مشروعا لتحلية مياه البحر", "خطة لإعادة تأهيل الطرق الريفية", "برنامجا لدعم صغار المزارعين",
             "حملة للتطعيم ضد الحصبة", "مهرجانا للكتاب والقراءة", "معرضا للصناعات التقليدية",
             "مبادرة لزراعة مليون شجرة", "قانونا جديدا لتشجيع الاستثمار", "شبكة حديثة للنقل العام",
             "مركزا لرعاية كبار السن", "مسابقة وطنية للبرمجة", "خطة طوارئ لمواجهة السيول"]
_TITLE_VERBS = ["تطلق", "تعلن", "تناقش", "تفتتح", "تراجع", "تدعم", "تقر", "تتبنى"]
_WEEKDAYS = ["السبت", "الأحد", "الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة"]
_MONTHS = ["يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر",
           "أكتوبر", "نوفمبر", "ديسمبر"]
_SEASONS = ["الشتاء", "الصيف", "الربيع", "الخريف"]
_LEAD = "أعلن {role} {person} يوم {weekday} أن {org} أقرت {subject} في {place} على أن يبدأ التنفيذ خلال الأسابيع المقبلة."
_SENTENCES = [
    "وقال في مؤتمر صحفي إن المرحلة الأولى تشمل {n} من الأحياء وتستهدف نحو {m} ألف نسمة.",
    "وأوضح أن التمويل يأتي من {org2} بالتعاون مع السلطات المحلية في {place2}.",
    "من جهتها رحبت {person2} بالخطوة، معتبرة أنها تأخرت كثيرا لكنها تبقى ضرورية.",
    "ويتوقع خبراء أن تنخفض التكاليف بنسبة {p} في المئة بحلول شهر {month} المقبل.",
    "وشهدت {place} في الأشهر الماضية نقاشا واسعا حول أولويات الإنفاق العام.",
    "وأكد المشاركون في الاجتماع ضرورة إشراك الشباب والنساء في متابعة التنفيذ.",
    "وتعد هذه المبادرة الأولى من نوعها منذ عام {year} بحسب بيانات رسمية.",
    "وفي سياق متصل، زار وفد من {org2} مدينة {place2} للاطلاع على سير الأعمال.",
    "ولم يصدر حتى الآن أي تعليق من {org2} على الانتقادات التي وجهها بعض النواب.",
    "ويأمل السكان أن ينعكس المشروع على حياتهم اليومية قبل حلول فصل {season}.",
    "وذكر تقرير نشر {weekday} الماضي أن {p} في المئة من المستطلعين يؤيدون الخطة.",
    "وأشار {person2} إلى أن فرق العمل ستنشر تقارير شهرية عن التقدم المحرز.",
    "وكانت {org} قد عقدت جلسة مغلقة في {place2} لبحث الجدول الزمني والميزانية.",
]
#: Length of a generated body, in characters.
MIN_BODY_CHARS, MAX_BODY_CHARS = 300, 800


def make_articles(n: int, tag: str) -> list[dict[str, str]]:
    """``n`` distinct Arabic news records (``source``, ``url``, ``title``, ``body``, ``published_at``).

    Built from the word lists above with a generator seeded by ``tag``: every record has its
    own title (a running number), a source of twelve outlets and its own URL (so its own
    ``article_id``), and a body of 300–800 characters.
    """
    rng = random.Random(tag)
    out = []
    for i in range(n):
        source, slug = _SOURCES[i % len(_SOURCES)]
        words = {"role": rng.choice(_ROLES), "person": rng.choice(_PEOPLE), "person2": rng.choice(_PEOPLE),
                 "org": rng.choice(_ORGS), "org2": rng.choice(_ORGS), "subject": rng.choice(_SUBJECTS),
                 "place": rng.choice(_PLACES), "place2": rng.choice(_PLACES),
                 "weekday": rng.choice(_WEEKDAYS), "month": rng.choice(_MONTHS), "season": rng.choice(_SEASONS),
                 "n": rng.randint(3, 40), "m": rng.randint(5, 900), "p": rng.randint(5, 70),
                 "year": rng.randint(1990, 2020)}
        closing = f"وهذا هو التقرير رقم {i + 1} في متابعة {source} من {words['place']}."
        target = rng.randint(MIN_BODY_CHARS, MAX_BODY_CHARS - len(closing) - 1)
        sentences = [_LEAD.format(**words)]
        for template in rng.sample(_SENTENCES, len(_SENTENCES)):
            sentence = template.format(**words)
            if len(" ".join(sentences)) >= target or len(" ".join([*sentences, sentence, closing])) > MAX_BODY_CHARS:
                break
            sentences.append(sentence)
        body = " ".join([*sentences, closing])
        title = f"{words['org']} {rng.choice(_TITLE_VERBS)} {words['subject']} في {words['place']} ({i + 1})"
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        out.append({"source": source, "url": f"https://{slug}.example.org/{tag}/{i + 1}", "title": title,
                    "body": body, "published_at": f"2025-{month:02d}-{day:02d}T{rng.randint(6, 22):02d}:00:00+03:00"})
    return out


def expected_ids(articles: list[dict[str, str]]) -> set[str]:
    """The ``article_id`` ingest gives each record (the rules of :mod:`services.ingest.ids`)."""
    return {article_id(url=a["url"], source=a["source"], external_id=None, title=a["title"], body=a["body"])
            for a in articles}


def write_chunks(articles: list[dict[str, str]], folder: Path, size: int) -> list[Path]:
    """``articles`` as JSON Lines files of ``size`` records each, in order."""
    paths = []
    for start in range(0, len(articles), size):
        path = folder / f"articles-{start // size:03d}.jsonl"
        path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles[start:start + size]),
                        encoding="utf-8")
        paths.append(path)
    return paths


def test_generated_articles_are_distinct_arabic_and_of_the_intended_length():
    """The generator itself: distinct titles, URLs and ids; 300–800 characters; Arabic text."""
    articles = make_articles(500, "self-check")
    assert len({a["title"] for a in articles}) == len({a["url"] for a in articles}) == 500
    assert len(expected_ids(articles)) == 500
    lengths = [len(a["body"]) for a in articles]
    assert MIN_BODY_CHARS <= min(lengths) and max(lengths) <= MAX_BODY_CHARS, (min(lengths), max(lengths))
    assert len({a["source"] for a in articles}) == len(_SOURCES)
    assert make_articles(3, "self-check") == articles[:3]  # seeded: the same run twice


# --------------------------------------------------------------------------- waiting and looking


def wait_for(what: str, probe: Callable[[], T], ok: Callable[[T], bool], timeout_seconds: float) -> T:
    """Call ``probe`` every :data:`POLL_SECONDS` until ``ok(result)``; return that result.

    A probe that raises counts as not yet (a server may be restarting). Raises AssertionError
    naming ``what`` was expected and the last value (or error) seen when ``timeout_seconds`` pass.
    """
    deadline = time.monotonic() + timeout_seconds
    last: Any = "nothing yet"
    while True:
        try:
            value = probe()
            if ok(value):
                return value
            last = value
        except Exception as exc:  # noqa: BLE001 - shown in the failure
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {what} within {timeout_seconds:.0f} s; last seen: {last}")
        time.sleep(POLL_SECONDS)


def real_es_settings(pipe: Pipeline, infrastructure: Settings) -> Settings:
    """The pipeline's settings pointed at the real Elasticsearch (not at a proxy in between)."""
    return pipe.settings.model_copy(update={"es_url": infrastructure.es_url})


def indexed_ids(settings: Settings) -> list[str]:
    """The ``_id`` of every document of the pipeline's index (refreshed first), with repeats."""
    es = client(settings)
    es.indices.refresh(index=settings.index_alias)
    resp = es.search(index=settings.index_alias, size=10_000, source=["article_id"], query={"match_all": {}},
                     track_total_hits=True)
    hits = resp["hits"]["hits"]
    assert resp["hits"]["total"]["value"] == len(hits), "more documents than one search page"
    assert all(h["_id"] == h["_source"]["article_id"] for h in hits), "a document whose _id is not its article_id"
    return [h["_id"] for h in hits]


def indexed_count(settings: Settings) -> int:
    """Documents in the pipeline's index now: once its shard is started (a restarted node answers
    before it has recovered its shards) and after a refresh that reached every shard."""
    es = client(settings)
    es.cluster.health(index=settings.index_alias, wait_for_status="green", timeout="60s")
    shards = es.indices.refresh(index=settings.index_alias)["_shards"]
    assert shards["successful"] == shards["total"] > 0, f"refresh did not reach every shard: {shards}"
    return es.count(index=settings.index_alias)["count"]


def assert_exactly_indexed(pipe: Pipeline, settings: Settings, articles: list[dict[str, str]]) -> None:
    """Every article indexed once, nothing else indexed, and no dead letter at all."""
    ids = indexed_ids(settings)
    want = expected_ids(articles)
    assert len(ids) == len(want), f"expected {len(want)} documents, found {len(ids)}"
    missing, extra = want - set(ids), set(ids) - want
    assert not missing and not extra, (f"expected exactly the {len(want)} ids fed; missing {len(missing)} "
                                       f"(e.g. {sorted(missing)[:3]}), unexpected {len(extra)} (e.g. {sorted(extra)[:3]})")
    letters = pipe.dead_letters()
    assert letters == [], (f"expected no dead letters, found {len(letters)}: "
                           + "; ".join(f"{d.stage}/{d.error_type}: {d.error_message[:120]}" for d in letters[:5]))


def lag_of(status: dict, service: str) -> int:
    """The consumer-group lag of ``service`` in a :func:`pipeline_status` answer."""
    return status["groups"][service]["lag"]


def running_pids(settings: Settings) -> dict[str, int | None]:
    """``{service process: pid}`` of the pipeline's service processes that run."""
    return {name: s["pid"] for name, s in processes.status(settings).items() if s["running"]}


def log_tail(path: str | Path, chars: int = 2500) -> str:
    """The end of a log file (for failure messages)."""
    try:
        return Path(path).read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"({exc})"


@contextlib.contextmanager
def service_logs_on_failure(settings: Settings, lines: int = 40) -> Iterator[None]:
    """On an exception, print the end of every service log first (the clean-up deletes them)."""
    try:
        yield
    except BaseException:
        for name, state in processes.status(settings).items():
            tail = Path(state["log"]).read_text(errors="replace").splitlines()[-lines:] \
                if Path(state["log"]).is_file() else ["(no log)"]
            print(f"--- {name} (pid {state['pid']}, running {state['running']}) ---", *tail, sep="\n")
        raise


def assert_services_survived(settings: Settings, before: dict[str, int | None], fault: str) -> None:
    """Each service process of ``before`` still runs with the same pid (none crashed)."""
    now = running_pids(settings)
    gone = sorted(name for name, pid in before.items() if now.get(name) != pid)
    logs = {name: s["log"] for name, s in processes.status(settings).items()}
    assert not gone, (f"expected every service to survive {fault}; not running any more: {gone}\n"
                      + "\n".join(f"--- {name} ---\n{log_tail(logs[name])}" for name in gone))


# --------------------------------------------------------------------------- faults


def sigkill_service(settings: Settings, name: str) -> int:
    """SIGKILL the service process ``name`` (``ingest``, ``extract-1``, …) and wait until it is gone."""
    pid = processes.status(settings)[name]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(f"{name} (pid {pid}) to be gone after SIGKILL", lambda: processes.status(settings)[name]["running"],
             lambda running: not running, 10)
    return pid


def server_address(settings: Settings, server: str) -> tuple[str, int]:
    """Host and port the local ``kafka`` or ``elasticsearch`` of ``settings`` listens on."""
    return infra.kafka_address(settings) if server == "kafka" else infra.es_address(settings)


def accepts_connections(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port`` now."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def local_server_pid(settings: Settings, server: str) -> int:
    """The pid ``hadath infra up`` recorded for ``server`` under ``settings.home`` (the process
    group leader: Kafka's JVM; Elasticsearch's launcher, parent of the server JVM).

    Skips the test when there is none: the fault tests kill only servers they can start again.
    """
    pid = infra.status(settings)[server]["pid"]
    if pid is None:
        pytest.skip(f"{server} at {server_address(settings, server)} was not started by `hadath infra up` "
                    f"with {env_name('home')}={settings.home}: the fault tests kill only servers they can restart")
    return pid


def sigkill_server(settings: Settings, server: str) -> int:
    """SIGKILL the process group of the local ``kafka`` or ``elasticsearch`` of ``settings.home``
    and wait until its port refuses connections. Returns the pid killed."""
    pid = local_server_pid(settings, server)
    os.killpg(pid, signal.SIGKILL)
    host, port = server_address(settings, server)
    wait_for(f"{server} (process group {pid}) to stop listening on {host}:{port} after SIGKILL",
             lambda: accepts_connections(host, port), lambda listening: not listening, 30)
    return pid


def restart_servers(settings: Settings) -> float:
    """``infra.up`` (starts what is down, waits until both answer); returns the seconds it took."""
    started = time.monotonic()
    infra.up(settings, timeout_seconds=300, progress=_quiet)
    return time.monotonic() - started


@pytest.fixture
def local_servers(infrastructure: Settings) -> Iterator[Settings]:
    """The infrastructure's settings, after checking that both servers are ours to kill; both
    are started again afterwards if a failed test left one down.

    Request it after ``make_pipeline``: fixtures end in reverse order, so the servers are back
    before the pipeline's clean-up needs them.
    """
    for server in ("kafka", "elasticsearch"):
        local_server_pid(infrastructure, server)
    yield infrastructure
    restart_servers(infrastructure)


# --------------------------------------------------------------------------- 1. SIGKILL everything


@dataclass
class ChunkFeeder:
    """Feeds JSON Lines chunks one at a time and counts what was sent."""

    pipe: Pipeline
    chunks: list[Path]
    sent: int = 0

    def feed_next(self) -> bool:
        """Feed the next chunk; False when none is left."""
        if not self.chunks:
            return False
        path = self.chunks.pop(0)
        report = self.pipe.feed(path)
        assert report.refused == 0, report.reasons
        self.sent += report.sent
        return True

    def feed_rest(self) -> None:
        """Feed every chunk left."""
        while self.feed_next():
            pass


def wait_in_flight(feeder: ChunkFeeder, what: str, in_flight: Callable[[dict], bool],
                   timeout_seconds: float = 180, feed_every_seconds: float = 15) -> dict:
    """Feed a chunk, then poll the pipeline until ``in_flight(status)``; feed another chunk
    every ``feed_every_seconds`` the moment is not seen. Returns the status seen."""
    feeder.feed_next()
    deadline = time.monotonic() + timeout_seconds
    next_feed = time.monotonic() + feed_every_seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            status = pipeline_status(feeder.pipe.settings)
        except Exception as exc:  # noqa: BLE001 - a restarted broker may not answer at once
            last = exc
        else:
            if in_flight(status):
                return status
            last = status["groups"]
        if time.monotonic() > next_feed and feeder.feed_next():
            next_feed = time.monotonic() + feed_every_seconds
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"expected {what} within {timeout_seconds:.0f} s; last seen: {last}")


def _service_busy(service: str) -> Callable[[dict], bool]:
    """In flight for a service: it has committed something and has lag left."""
    return lambda status: status["groups"][service]["committed"] > 0 and lag_of(status, service) > 0


def assert_events_consistent(pipe) -> None:
    """Every article document has an event, and each live event counts exactly the article
    documents carrying its id (no article counted twice or lost by the kills)."""
    counts: Counter = Counter()
    for hit in helpers.scan(pipe.es, index=pipe.settings.index_alias, _source=["event_id"]):
        assert hit["_source"].get("event_id"), hit["_id"]
        counts[hit["_source"]["event_id"]] += 1
    events = {h["_id"]: h["_source"] for h in helpers.scan(
        pipe.es, index=pipe.settings.events_alias, _source=["article_count", "merged_into"])}
    live = {k: v for k, v in events.items() if not v.get("merged_into")}
    assert set(counts) == set(live), (len(counts), len(live))
    bad = {k: (live[k]["article_count"], n) for k, n in counts.items() if live[k]["article_count"] != n}
    assert not bad, list(bad.items())[:5]


def test_sigkill_of_each_service_kafka_and_elasticsearch_loses_and_duplicates_nothing(
        make_pipeline, local_servers, tmp_path):
    """2,000 articles; while they flow: SIGKILL ingest, normalize, extract and index (each
    started again), then Kafka, then Elasticsearch (each started again, the services left
    running). Each kill waits for a moment its target has uncommitted work. Exactly the 2,000
    articles end up indexed, none twice, and nothing is dead-lettered."""
    started = time.monotonic()
    pipe = make_pipeline()
    articles = make_articles(2000, f"sigkill-{pipe.settings.topic_prefix}")
    feeder = ChunkFeeder(pipe, write_chunks(articles, tmp_path, 100))
    _log(f"pipeline up in {time.monotonic() - started:.0f} s")
    with service_logs_on_failure(pipe.settings):
        killed_at: dict[str, int] = {}
        for name, service in (("ingest", "ingest"), ("normalize", "normalize"), ("extract-1", "extract"),
                              ("events", "events"), ("index", "index")):
            seen = wait_in_flight(feeder, f"{service} to have uncommitted work", _service_busy(service))
            pid = sigkill_service(pipe.settings, name)
            killed_at[service] = seen["groups"][service]["committed"]
            _log(f"SIGKILL {name} (pid {pid}) at committed {killed_at[service]}, lag {lag_of(seen, service)}; "
                 f"{feeder.sent} fed")
            assert processes.up(pipe.settings, progress=_quiet) == [name]
        wait_in_flight(feeder, f"every restarted service to commit past where it was killed {killed_at}",
                       lambda status: all(status["groups"][s]["committed"] > n for s, n in killed_at.items()))
        _log("every restarted service works")

        for server in ("kafka", "elasticsearch"):
            if server == "kafka":
                seen = wait_in_flight(feeder, "lag in at least two stages",
                                      lambda status: sum(g["lag"] > 0 for g in status["groups"].values()) >= 2)
            else:
                seen = wait_in_flight(feeder, "index to have uncommitted work", _service_busy("index"))
            before = running_pids(pipe.settings)
            pid = sigkill_server(local_servers, server)
            _log(f"SIGKILL {server} (pid {pid}) with lag { {k: g['lag'] for k, g in seen['groups'].items()} }; "
                 f"{feeder.sent} fed")
            _log(f"{server} started again in {restart_servers(local_servers):.0f} s")
            done = seen["groups"]["index"]["committed"]
            wait_in_flight(feeder, f"the index to commit past {done} after the {server} restart",
                           lambda status: status["groups"]["index"]["committed"] > done)
            assert_services_survived(pipe.settings, before, f"a SIGKILL of {server}")
            _log(f"the pipeline flows again after the {server} restart")

        feeder.feed_rest()
        assert feeder.sent == len(articles)
        t0 = time.monotonic()
        pipe.wait(timeout_seconds=420)
        _log(f"drained in {time.monotonic() - t0:.0f} s; total {time.monotonic() - started:.0f} s")
        assert_exactly_indexed(pipe, pipe.settings, articles)
        assert_events_consistent(pipe)


# --------------------------------------------------------------------------- 2. SIGTERM in an outage


def test_sigterm_during_an_elasticsearch_outage_commits_nothing_undelivered(make_pipeline, local_servers, tmp_path):
    """Feed 150 articles; once some are indexed, stop the index, feed 150 more and let them all
    through the events stage (which needs Elasticsearch as well); SIGKILL Elasticsearch, start the
    index, SIGTERM it while it retries; start Elasticsearch and then the index again.

    Elasticsearch is SIGKILLed, not SIGSTOPped: a stopped node accepts connections and answers
    nothing, so the index would sit in one bulk request until the client's 120 s timeout before
    its first retry; a killed node refuses connections at once, which is the outage the retry
    loop is for (and a SIGSTOPped node left behind by a failed test would hang every later one).

    The index service stops within its grace period, its committed offsets cover only documents
    that are in Elasticsearch, and after the restart exactly the 300 articles are indexed.
    """
    pipe = make_pipeline()
    articles = make_articles(300, f"outage-{pipe.settings.topic_prefix}")
    with service_logs_on_failure(pipe.settings):
        first, second = write_chunks(articles, tmp_path, 150)
        pipe.feed(first)
        before_kill = wait_for("some articles indexed", lambda: indexed_count(pipe.settings), lambda n: n > 0, 180)
        # the events stage needs Elasticsearch too, so during the outage nothing new would reach
        # the index: stop the index, let every article reach articles.clustered, then the outage
        index = processes.status(pipe.settings)["index"]
        os.kill(index["pid"], signal.SIGTERM)
        wait_for("the index service to stop", lambda: processes.status(pipe.settings)["index"]["running"],
                 lambda running: not running, processes.STOP_GRACE_SECONDS)
        pipe.feed(second)
        wait_for("every article through the events stage", lambda: pipeline_status(pipe.settings),
                 lambda s: s["groups"]["events"]["committed"] >= len(articles) and lag_of(s, "events") == 0, 300)

        sigkill_server(local_servers, "elasticsearch")
        log_start = Path(index["log"]).stat().st_size
        assert processes.up(pipe.settings, progress=_quiet) == ["index"]
        index = processes.status(pipe.settings)["index"]
        wait_for("the index service to retry Elasticsearch",
                 lambda: Path(index["log"]).read_text(errors="replace")[log_start:],
                 lambda text: "failed (" in text and "; retry " in text, 90)
        status = wait_for("index lag (articles waiting for Elasticsearch)", lambda: pipeline_status(pipe.settings),
                          lambda s: lag_of(s, "index") > 0, 60)
        _log(f"Elasticsearch down, index retrying with lag {lag_of(status, 'index')}")

        os.kill(index["pid"], signal.SIGTERM)
        wait_for(f"the index service (pid {index['pid']}) to exit on SIGTERM",
                 lambda: processes.status(pipe.settings)["index"]["running"], lambda running: not running,
                 processes.STOP_GRACE_SECONDS)
        committed = pipeline_status(pipe.settings)["groups"]["index"]
        _log(f"index stopped; Elasticsearch started again in {restart_servers(local_servers):.0f} s")
        in_index = indexed_count(pipe.settings)
        _log(f"index group committed {committed['committed']} with lag {committed['lag']}; {in_index} indexed "
             f"({before_kill} seen before the kill)")
        assert committed["lag"] > 0, f"expected messages left uncommitted by the SIGTERM, saw {committed}"

        assert processes.up(pipe.settings, progress=_quiet) == ["index"]
        pipe.wait(timeout_seconds=240)
        final = indexed_count(pipe.settings)
        # checked after the restart, so that a failure also tells whether the documents came back
        assert committed["committed"] <= in_index, (
            f"expected the index group to have committed at most the {in_index} documents Elasticsearch held "
            f"after its restart ({before_kill} seen before the kill), it committed {committed['committed']}; "
            f"after the index service's restart {final} of {len(articles)} are indexed")
        assert_exactly_indexed(pipe, pipe.settings, articles)


# --------------------------------------------------------------------------- 3. a 429 storm


_REJECTION = {"type": "es_rejected_execution_exception",
              "reason": "rejected execution of coordinating operation [fault injected by the test proxy]"}
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
               "host", "content-length"}


@dataclass
class StormCounts:
    """What the proxy did: bulk requests answered 429 whole, bulk items answered 429, requests passed on."""

    whole_429: int = 0
    item_429: int = 0
    passed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class StormProxy:
    """An HTTP proxy in front of Elasticsearch that answers a storm of 429s, in a thread.

    From the first ``_bulk`` request on, for ``storm_seconds`` every ``_bulk`` request is
    answered ``429`` with an Elasticsearch-style error (header ``x-elastic-product``); then
    the next ``item_storm_requests`` bulk requests lose every other item: those items are taken
    out of the request before it is passed on (so Elasticsearch never indexes them) and put
    back into the answer with status 429, as a node whose write queue is full answers. Every
    other request, and its headers (``Authorization`` too), passes through unchanged.
    Listens on 127.0.0.1 on a free port; stops by itself after ``lifetime_seconds``.
    """

    def __init__(self, upstream: str, *, storm_seconds: float = 12.0, item_storm_requests: int = 4,
                 lifetime_seconds: float = 600.0) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.storm_seconds = storm_seconds
        self.item_storm_left = item_storm_requests
        self.storm_started: float | None = None
        self.counts = StormCounts()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:  # quiet
                pass

            def _handle(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="storm-proxy", daemon=True)
        self._timer = threading.Timer(lifetime_seconds, self.close)
        self._timer.daemon = True

    def __enter__(self) -> StormProxy:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving (idempotent)."""
        self._timer.cancel()
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    # -- one request

    def handle(self, req: http.server.BaseHTTPRequestHandler) -> None:
        """Answer one request: a storm 429, a bulk with items taken out, or a plain pass-through."""
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in req.headers.items() if k.lower() not in _HOP_BY_HOP}
        path = urllib.parse.urlsplit(req.path).path
        if req.command in ("POST", "PUT") and path.rstrip("/").endswith("/_bulk"):
            with self.counts.lock:
                now = time.monotonic()
                self.storm_started = self.storm_started or now
                whole = now - self.storm_started < self.storm_seconds
                items = not whole and self.item_storm_left > 0
                if whole:
                    self.counts.whole_429 += 1
                elif items:
                    self.item_storm_left -= 1
            if whole:
                error = {"error": {"root_cause": [_REJECTION], **_REJECTION}, "status": 429}
                return self._answer(req, 429, {"Content-Type": "application/json"}, json.dumps(error).encode())
            if items:
                return self._bulk_with_rejections(req, path, headers, body)
        status, reply_headers, reply = self._forward(req.command, req.path, headers, body)
        self._answer(req, status, reply_headers, reply)

    def _forward(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            conn.request(method, target, body=body if body or method in ("POST", "PUT") else None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            with self.counts.lock:
                self.counts.passed += 1
            return resp.status, {k: v for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP}, data
        finally:
            conn.close()

    def _bulk_with_rejections(self, req: http.server.BaseHTTPRequestHandler, path: str, headers: dict[str, str],
                              body: bytes) -> None:
        """Pass on every other item of a bulk request; answer the others 429, in their places."""
        encoding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        # the items passed on are sent uncompressed, and asked for a plain answer (to be edited)
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-encoding", "accept-encoding")}
        lines = [line for line in body.split(b"\n") if line.strip()]
        items: list[list[bytes]] = []  # [action line] for a delete, [action line, source line] else
        while lines:
            width = 1 if next(iter(json.loads(lines[0]))) == "delete" else 2
            items.append(lines[:width])
            lines = lines[width:]
        rejected = [i % 2 == 1 or len(items) == 1 for i in range(len(items))]
        kept = [item for item, no in zip(items, rejected) if not no]
        answers: list[dict] = []
        if kept:
            status, reply_headers, reply = self._forward(req.command, req.path, headers,
                                                         b"\n".join(b"\n".join(item) for item in kept) + b"\n")
            if status != 200:
                return self._answer(req, status, reply_headers, reply)
            answers = json.loads(reply)["items"]
        default_index = path.strip("/").split("/")[0] if path.strip("/") != "_bulk" else None
        merged, passed = [], iter(answers)
        for item, no in zip(items, rejected):
            if not no:
                merged.append(next(passed))
                continue
            op, meta = next(iter(json.loads(item[0]).items()))
            merged.append({op: {"_index": meta.get("_index", default_index), "_id": meta.get("_id"),
                                "status": 429, "error": _REJECTION}})
            with self.counts.lock:
                self.counts.item_429 += 1
        answer = {"took": 1, "errors": True, "items": merged}
        self._answer(req, 200, {"Content-Type": "application/json"}, json.dumps(answer).encode())

    @staticmethod
    def _answer(req: http.server.BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        req.send_response(status)
        sent = {k.lower() for k in headers}
        for key, value in headers.items():
            req.send_header(key, value)
        if "x-elastic-product" not in sent:
            req.send_header("X-Elastic-Product", "Elasticsearch")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)


@pytest.fixture
def storm_proxy(infrastructure: Settings) -> Iterator[StormProxy]:
    """A :class:`StormProxy` in front of the real Elasticsearch.

    Request it before ``make_pipeline``: fixtures end in reverse order, so the pipeline (whose
    clean-up talks to Elasticsearch through the proxy) is removed before the proxy stops.
    """
    with StormProxy(infrastructure.es_url) as proxy:
        yield proxy


def test_a_429_storm_is_waited_out(storm_proxy, make_pipeline, infrastructure, tmp_path):
    """300 articles through events and index services that reach Elasticsearch only through
    :class:`StormProxy`: every bulk request refused with 429 for 12 s, then four bulk requests
    with every other item refused with 429. Every article is indexed exactly once (counted on
    the real Elasticsearch), nothing is dead-lettered, and the proxy did answer 429s."""
    pipe = make_pipeline(es_url=storm_proxy.url)
    with service_logs_on_failure(pipe.settings):
        real = real_es_settings(pipe, infrastructure)
        articles = make_articles(300, f"storm-{pipe.settings.topic_prefix}")
        (path,) = write_chunks(articles, tmp_path, 300)
        pipe.feed(path)
        wait_for("the proxy to answer a bulk request with 429", lambda: storm_proxy.counts.whole_429,
                 lambda n: n > 0, 180)
        pipe.wait(timeout_seconds=300)
        counts = storm_proxy.counts
        _log(f"proxy: {counts.whole_429} bulk requests and {counts.item_429} items answered 429, "
             f"{counts.passed} requests passed")
        assert counts.whole_429 >= 2, f"expected the storm to refuse the retried bulk request too, saw {counts}"
        assert counts.item_429 >= 1, f"expected bulk items answered 429, saw {counts}"
        # both stages that write to Elasticsearch go through the proxy: the events stage (event
        # documents) may meet the storm first, the index after it
        status = processes.status(pipe.settings)
        log = [line for name in ("events", "index")
               for line in Path(status[name]["log"]).read_text(errors="replace").splitlines()]
        whole = [line for line in log if "bulk write of" in line and "429" in line and "; retry " in line]
        items = [line for line in log if "Elasticsearch asked to retry" in line]
        _log(f"index log: {len(whole)} whole-request retries, {len(items)} item retries, e.g.\n"
             + "\n".join(line[:240] for line in (whole[:1] + items[:1])))
        assert whole and items, ("expected the events and index logs to show retries of 429 answers, whole and per item; "
                                 f"saw {len(whole)} and {len(items)}:\n" + "\n".join(log[-30:]))
        assert_exactly_indexed(pipe, real, articles)

"""Integration tests run against the REAL Kafka and Elasticsearch on 127.0.0.1.

Point them at a broker and a cluster with ``HADATH_KAFKA_BOOTSTRAP`` and ``HADATH_ES_URL``
(defaults 127.0.0.1:9092 and http://127.0.0.1:9200); ``make test`` starts the local ones
(``hadath infra up``) first, and the fixture starts them itself if they are down. Each test
gets its own topics (a unique ``HADATH_TOPIC_PREFIX``), consumer groups (``HADATH_GROUP_PREFIX``)
and index (``HADATH_INDEX_ALIAS``), runs the four services as real processes, and removes all of
it afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from collections.abc import Iterator

import pytest

from hadath import infra
from hadath.sandbox import Pipeline, cleanup, start
from shared.settings import Settings



def pytest_collection_modifyitems(config, items):  # noqa: ANN001 - pytest hook
    """Mark every test under ``tests/integration`` ``integration`` (a ``pytestmark`` in a
    conftest is ignored by pytest), so ``pytest -m "not integration"`` is the unit suite."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001 - pytest hook
    """Keep each phase's report on the test item (``item.rep_call``), so a fixture's teardown
    knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


LOG_TAIL_LINES = 40


def keep_logs(settings: Settings, test_name: str) -> Path:
    """Copy the service logs of a failed test's pipeline to
    ``$HADATH_HOME/failed-logs/<test name>/<group prefix>/`` (cleanup deletes the originals)
    and print the last ``LOG_TAIL_LINES`` lines of each, so the failure's report shows what the
    services said. Returns the folder."""
    source = settings.home / "logs" / settings.group_prefix
    target = settings.home / "failed-logs" / test_name.replace(os.sep, "_") / settings.group_prefix
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
        for log in sorted(target.glob("*.log")):
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
            print(f"--- {log} (last {LOG_TAIL_LINES} of {len(lines)} lines) ---")
            print("\n".join(lines[-LOG_TAIL_LINES:]))
    return target


@pytest.fixture(scope="session")
def infrastructure() -> Settings:
    """The real Kafka and Elasticsearch, started if they are not running."""
    settings = Settings()
    infra.up(settings, timeout_seconds=900, progress=lambda *_: None)
    return settings


@pytest.fixture
def make_pipeline(infrastructure, request) -> Iterator:
    """Factory: ``make_pipeline(extract_workers=1, **settings_overrides)`` → running :class:`Pipeline`.
    When the test fails, its services' logs are kept and their tails printed (:func:`keep_logs`)."""
    started: list[Pipeline] = []

    def make(extract_workers: int = 1, **overrides) -> Pipeline:
        pipe = start(extract_workers, **overrides)
        started.append(pipe)
        return pipe

    yield make
    report = getattr(request.node, "rep_call", None)
    for pipe in started:
        if report is not None and report.failed:
            keep_logs(pipe.settings, request.node.name)
        cleanup(pipe.settings)


def jsonl_bytes(*objs: dict) -> list[bytes]:
    """Each object as one UTF-8 JSON line (no newline)."""
    return [json.dumps(o, ensure_ascii=False).encode() for o in objs]


SAMPLES = Path(__file__).resolve().parents[2] / "hadath" / "samples" / "articles.jsonl"


def sample_articles() -> list[dict]:
    """The shipped sample articles (``hadath/samples/articles.jsonl``), as dicts."""
    return [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]


def sample_variants(n: int, tag: str) -> list[dict]:
    """``n`` distinct articles built from the samples: each its own url
    (``https://example.org/<tag>/<i>``) and a line of its own at the end of the body."""
    base = sample_articles()
    out = []
    for i in range(n):
        art = dict(base[i % len(base)])
        art["url"] = f"https://example.org/{tag}/{i}"
        art["body"] = f"{art['body']}\nتحديث رقم {i}."
        out.append(art)
    return out

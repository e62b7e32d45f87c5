"""``hadath services up|down|status``: the five services as background processes, and the
search page.

Each runs ``python -m services.<name>`` with the caller's environment (so the same ``HADATH_*``
settings), logging to ``<home>/logs/<group_prefix>/<name>.log`` with its pid in
``<home>/run/<group_prefix>/<name>.pid``; extract runs as ``extract-1`` … ``extract-N``, one
consumer group. Each gets ``HADATH_PROCESS_NAME`` (its name), which picks its Prometheus
metrics port (:mod:`shared.metrics`); the URL it really serves is in ``status`` as ``metrics_url``.
The search page (``web``, :data:`WEB`) is no Kafka consumer: it is started only
when asked (``up(..., web=True)``), waited for on its HTTP port instead of a consumer group, and
stopped by :func:`down` with the rest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hadath.pids import alive, read_pid
from hadath.kafka_admin import SERVICES, ensure_topics, group_member_ids
from shared.metrics import metrics_file, metrics_url
from shared.settings import Settings, env_name, settings_env

STOP_GRACE_SECONDS = 20.0
#: The search page's process name (``python -m services.web``; not in ``kafka_admin.SERVICES``).
WEB = "web"
#: How long :func:`up` waits for the search page to answer.
WEB_WAIT_SECONDS = 60.0


def _dirs(settings: Settings) -> tuple[Path, Path]:
    run = settings.home / "run" / settings.group_prefix
    logs = settings.home / "logs" / settings.group_prefix
    run.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    return run, logs


#: Most extract workers chosen by default (each holds the NER model: about 500 MB resident).
MAX_DEFAULT_EXTRACT_WORKERS = 4


def default_extract_workers() -> tuple[int, int]:
    """``(workers, cores)``: the extract workers ``hadath services up`` and ``make demo`` start
    when not told: one per core this process may run on (``os.sched_getaffinity``), at most
    :data:`MAX_DEFAULT_EXTRACT_WORKERS`. Extraction is the expensive stage and its workers share
    the topic's partitions; on the 2-core reference machine two workers beat one (the scale-out
    figures are in the README's benchmark table)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_EXTRACT_WORKERS)), cores


def process_names(extract_workers: int) -> list[str]:
    """``["ingest", "normalize", "extract-1", …, "extract-N", "events", "index"]``."""
    return ["ingest", "normalize", *[f"extract-{i}" for i in range(1, extract_workers + 1)], "events", "index"]


def up(settings: Settings, *, extract_workers: int = 1, web: bool = False, wait_seconds: float = 180,
       progress=print) -> list[str]:
    """Create the topics, start every service not already running, wait until each joined
    its consumer group; with ``web``, also the search page (:data:`WEB`), waited for until it
    answers on ``HADATH_WEB_HOST:HADATH_WEB_PORT``. Returns the names started now.

    Raises:
        RuntimeError: a service exited at start (its log tail is in the message), did not
            join its group within ``wait_seconds``, or the search page did not answer within
            :data:`WEB_WAIT_SECONDS` (e.g. its port is taken: see its log).
    """
    ensure_topics(settings)
    run, logs = _dirs(settings)
    before = _member_ids(settings)
    started = []
    for name in process_names(extract_workers) + ([WEB] if web else []):
        pid = read_pid(run / f"{name}.pid")
        if pid and alive(pid):
            continue
        module = "services." + name.split("-")[0]
        log = open(logs / f"{name}.log", "ab")
        metrics_file(settings, name).unlink(missing_ok=True)  # the new process writes its own
        proc = subprocess.Popen([sys.executable, "-m", module], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, **settings_env(settings), env_name("process_name"): name})
        (run / f"{name}.pid").write_text(str(proc.pid))
        started.append(name)
        progress(f"started {name} (pid {proc.pid}, log {logs / f'{name}.log'})")
    consumers = [n for n in started if n != WEB]
    if consumers:
        _wait_joined(settings, extract_workers, wait_seconds, progress, before=before, started=consumers)
    if web:
        _wait_web(settings, WEB_WAIT_SECONDS, progress)
    return started


def web_url(settings: Settings) -> str:
    """Where the search page answers: ``http://HOST:PORT/`` (``127.0.0.1`` for a page bound
    to every address)."""
    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::", "") else settings.web_host
    return f"http://{host}:{settings.web_port}/"


def _wait_web(settings: Settings, wait_seconds: float, progress) -> None:
    """Wait until the search page answers ``/healthz``; raise RuntimeError (with its log tail)
    when its process exits or ``wait_seconds`` pass first."""
    import urllib.error
    import urllib.request

    run, logs = _dirs(settings)
    deadline = time.monotonic() + wait_seconds
    url = web_url(settings)
    while True:
        pid = read_pid(run / f"{WEB}.pid")
        if not pid or not alive(pid):
            tail = (logs / f"{WEB}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the search page exited at start (is port {settings.web_port} taken? set "
                               f"HADATH_WEB_PORT); end of its log:\n{tail}")
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as resp:
                if resp.status == 200:
                    progress(f"search page: {url}")
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the search page did not answer at {url} within {wait_seconds:.0f} s")
        time.sleep(0.3)


def _member_ids(settings: Settings) -> dict[str, set[str]]:
    """Member ids of the services' groups now (a killed member stays until its session times out)."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="hadath-services")
    except Exception:  # noqa: BLE001 - Kafka not up yet: nothing to compare with
        return {}
    try:
        return group_member_ids(admin, [settings.group_id(s) for s in SERVICES])
    finally:
        admin.close()


def _wait_joined(settings: Settings, extract_workers: int, wait_seconds: float, progress, *,
                 before: dict[str, set[str]], started: list[str]) -> None:
    """Wait until every group is stable with its members, and each process started now is one
    of them: a group must show as many member ids new since ``before`` as processes were
    started in it (the member a SIGKILL left behind still counts until its session ends)."""
    from kafka import KafkaAdminClient

    want = {settings.group_id(s): (extract_workers if s == "extract" else 1) for s in SERVICES}
    new = {settings.group_id(s): sum(1 for n in started if n.split("-")[0] == s) for s in SERVICES}
    run, logs = _dirs(settings)
    deadline = time.monotonic() + wait_seconds
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="hadath-services")
    try:
        while True:
            for name in process_names(extract_workers):
                pid = read_pid(run / f"{name}.pid")
                if not pid or not alive(pid):
                    tail = (logs / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"service {name} exited at start; end of its log:\n{tail}")
            ids = group_member_ids(admin, list(want))
            got = {g: len(m) for g, m in ids.items()}
            if all(got.get(g, 0) >= n and len(ids.get(g, set()) - before.get(g, set())) >= new[g]
                   for g, n in want.items()):
                progress("all services joined their consumer groups")
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"services did not join their consumer groups within {wait_seconds:.0f} s: {got}")
            time.sleep(1.0)
    finally:
        admin.close()


def down(settings: Settings, *, progress=print) -> list[str]:
    """Stop every service of this ``group_prefix`` (SIGTERM, SIGKILL after a grace period)."""
    run, _ = _dirs(settings)
    stopped = []
    pids = {}
    for pid_file in sorted(run.glob("*.pid")):
        pid = read_pid(pid_file)
        if pid and alive(pid):
            os.killpg(pid, signal.SIGTERM) if _is_group_leader(pid) else os.kill(pid, signal.SIGTERM)
            pids[pid_file.stem] = pid
        else:
            pid_file.unlink(missing_ok=True)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, pid in pids.items():
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        (run / f"{name}.pid").unlink(missing_ok=True)
        metrics_file(settings, name).unlink(missing_ok=True)
        stopped.append(name)
        progress(f"stopped {name} (pid {pid})")
    return stopped


def _is_group_leader(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False


def status(settings: Settings) -> dict[str, Any]:
    """``{name: {"pid": int, "running": bool, "log": str, "metrics_url": str | None}}`` for every
    known service process; ``metrics_url`` is where it serves Prometheus metrics (what it wrote
    at start, else the URL of its configured port; None when unknown)."""
    run, logs = _dirs(settings)
    out = {}
    for pid_file in sorted(run.glob("*.pid")):
        pid = read_pid(pid_file)
        out[pid_file.stem] = {"pid": pid, "running": bool(pid and alive(pid)),
                              "log": str(logs / f"{pid_file.stem}.log"),
                              "metrics_url": metrics_url(settings, pid_file.stem)}
    return out


def recent_activity(settings: Settings, *, timeout_seconds: float = 2.0) -> dict[str, dict[str, Any]]:
    """What each stage did over the last minute, from its running processes' metrics (summed
    over ``extract-1..N``): ``{stage: {"in_last_minute": int, "out_last_minute": int,
    "in_per_second": float, "lag_max_last_minute": int, "processes": int}}``; a process whose
    metrics do not answer within ``timeout_seconds`` is left out (``processes`` counts the ones
    that answered)."""
    import urllib.request

    from shared.metrics import parse_samples

    kinds = {"hadath_messages_in_last_minute": "in_last_minute",
             "hadath_messages_out_last_minute": "out_last_minute",
             "hadath_consumer_lag_max_last_minute": "lag_max_last_minute"}
    out: dict[str, dict[str, Any]] = {}
    for name, proc in status(settings).items():
        if not proc["running"] or not proc["metrics_url"]:
            continue
        try:
            with urllib.request.urlopen(proc["metrics_url"], timeout=timeout_seconds) as resp:  # noqa: S310 - our URL
                samples = parse_samples(resp.read().decode())
        except OSError:
            continue
        stage = name.split("-")[0]
        row = out.setdefault(stage, {"in_last_minute": 0, "out_last_minute": 0, "in_per_second": 0.0,
                                     "lag_max_last_minute": 0, "processes": 0})
        row["processes"] += 1
        for (metric, labels), value in samples.items():
            if metric in kinds and dict(labels).get("stage") == stage:
                row[kinds[metric]] += int(value)
        row["in_per_second"] = round(row["in_last_minute"] / 60.0, 2)
    return out

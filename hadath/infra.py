"""Local Kafka and Elasticsearch as plain ``java`` processes (no Docker).

The first :func:`up` assembles both servers from Maven Central into ``settings.home``
(``~/.cache/hadath`` unless ``HADATH_HOME``), never inside the git tree:

* Kafka (KRaft, broker + controller in one JVM): ``org.apache.kafka:kafka_2.13`` with its
  dependencies plus log4j2 core and the slf4j binding (``infra/local/kafka/pom.xml``).
* Elasticsearch: the integ-test distribution zip
  (``infra/local/elasticsearch/pom.xml``) plus the Hadath analysis plugin
  (``infra/local/elasticsearch/analysis-plugin``), which adds the analysis-common
  components the zip lacks under their stock names.

Versions come from the repository's ``.env`` (``KAFKA_VERSION``, ``ELASTICSEARCH_VERSION``), the
file docker compose reads too; an environment variable of the same name wins.

Layout under ``home``::

    downloads/m2/                 Maven repository (downloads; kept by wipe)
    downloads/elasticsearch/      the distribution zips
    dist/kafka-<v>/libs, config   assembled Kafka (kept by wipe)
    dist/elasticsearch-<v>/       unpacked Elasticsearch with the plugin (kept by wipe; config/
                                  holds the rendered yml and the keystore when not root)
    build/                        plugin build
    data/kafka                    Kafka state (deleted by wipe)
    data/elasticsearch            Elasticsearch state when not root (deleted by wipe)
    logs/kafka.out, logs/kafka/   Kafka stdout and server.log
    logs/elasticsearch.out        Elasticsearch stdout
    logs/elasticsearch/           Elasticsearch logs when not root
    run/kafka.pid, run/elasticsearch.pid
    secrets/elastic.password      the ``elastic`` user's password (folder 0700, file 0600)
    tmp/elasticsearch/            ES_TMPDIR when not root

Security is on: the first start generates a random password for the ``elastic`` user into
``secrets/elastic.password`` (unless ``HADATH_ES_PASSWORD`` gives one) and puts it in the
node's keystore as ``bootstrap.password`` before every start; anonymous requests get 401. A node
still running with security off (started by an older version) is restarted with it, data kept.

Elasticsearch refuses to run as root: when this runs as root, Elasticsearch runs as the system
user ``hadath-es`` (created on demand) through ``setpriv``, from a folder of its own outside
root's home, ``/var/lib/hadath-es/<12 hex of sha256(home)>/`` (:func:`es_home_for`): a copy of
the distribution (config and keystore inside), ``data/``, ``logs/``, ``tmp/``, all owned by that
user (mode 0750). Nothing above ``home`` is made traversable; data left in ``home`` by an older
version is moved there once, and the "others may traverse" bit that version added to folders
above ``home`` is taken back.

Command line: ``python -m hadath.infra up|down|status|wipe``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hadath.pids import alive, proc_stats, read_pid
from shared import limits
from shared.es import es_auth, password_file
from shared.settings import Settings, env_name

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = REPO_ROOT / ".env"
INFRA_DIR = REPO_ROOT / "infra" / "local"
KAFKA_POM = INFRA_DIR / "kafka" / "pom.xml"
KAFKA_PROPERTIES_TEMPLATE = INFRA_DIR / "kafka" / "server.properties"
KAFKA_LOG4J2 = INFRA_DIR / "kafka" / "log4j2.properties"
ES_POM = INFRA_DIR / "elasticsearch" / "pom.xml"
ES_YML_TEMPLATE = INFRA_DIR / "elasticsearch" / "elasticsearch.yml"
PLUGIN_DIR = INFRA_DIR / "elasticsearch" / "analysis-plugin"
PLUGIN_NAME = "hadath-analysis"

ES_USER = "hadath-es"
ES_HOMES = Path("/var/lib/hadath-es")  # the ES user's folders when running as root
ES_HOME_MODE = 0o750
PASSWORD_BYTES = 24  # random bytes of a generated password (32 URL-safe characters)
AUTH_REFUSED_SECONDS = 20.0  # a started node refusing the password this long: give up
KAFKA_MIN_JAVA = 17
ES_MIN_JAVA = 21
HEAP_MIN_MB = 512
HEAP_MAX_MB = 1024
CONTROLLER_PORT_OFFSET = 1  # controller listens on the broker port + 1 (9093)
STOP_GRACE_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.5

JDK_CANDIDATES = (
    "/usr/lib/jvm/temurin-25-jdk-amd64",
    "/usr/lib/jvm/temurin-21-jdk-amd64",
    "/usr/lib/jvm/java-21-openjdk-amd64",
    "/usr/lib/jvm/java-17-openjdk-amd64",
    "/opt/java/openjdk",
)

Progress = Callable[[str], object]


# --------------------------------------------------------------------------- versions, layout


@dataclass(frozen=True)
class Versions:
    """Server versions: ``kafka`` (kafka_2.13 / apache/kafka tag) and ``elasticsearch``."""

    kafka: str
    elasticsearch: str


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """``KEY=VALUE`` pairs of a docker-compose style ``.env`` file (comments and blanks skipped,
    optional ``export`` prefix and surrounding quotes removed)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def read_versions(path: Path = ENV_FILE, environ: dict[str, str] | None = None) -> Versions:
    """Kafka and Elasticsearch versions from ``.env``; an environment variable of the same name
    wins (as with docker compose). Raises RuntimeError when one is missing."""
    environ = os.environ if environ is None else environ
    values = read_env_file(path)
    found = {}
    for key in ("KAFKA_VERSION", "ELASTICSEARCH_VERSION"):
        value = environ.get(key) or values.get(key)
        if not value:
            raise RuntimeError(f"{key} is not set: add it to {path} (e.g. {key}=...)")
        if not re.fullmatch(r"[0-9A-Za-z.\-]+", value):
            raise RuntimeError(f"{key}={value!r} in {path} is not a version")
        found[key] = value
    return Versions(kafka=found["KAFKA_VERSION"], elasticsearch=found["ELASTICSEARCH_VERSION"])


@dataclass(frozen=True)
class Layout:
    """Every path that the local infrastructure uses: under ``home``, and under ``es_home``
    (the Elasticsearch user's own folder, when running as root) for what Elasticsearch itself
    reads and writes. ``es_home`` None: Elasticsearch runs from ``home`` too."""

    home: Path
    versions: Versions
    es_home: Path | None = None

    @property
    def m2(self) -> Path:
        return self.home / "downloads" / "m2"

    @property
    def es_zip_dir(self) -> Path:
        return self.home / "downloads" / "elasticsearch"

    @property
    def kafka_dist(self) -> Path:
        return self.home / "dist" / f"kafka-{self.versions.kafka}"

    @property
    def kafka_libs(self) -> Path:
        return self.kafka_dist / "libs"

    @property
    def kafka_config(self) -> Path:
        return self.kafka_dist / "config" / "server.properties"

    @property
    def es_assembled(self) -> Path:
        """The unpacked distribution with the plugin, as assembled under ``home``."""
        return self.home / "dist" / f"elasticsearch-{self.versions.elasticsearch}"

    @property
    def es_dist(self) -> Path:
        """The distribution Elasticsearch runs from (its ``config/`` holds the rendered yml and
        the keystore): a copy under ``es_home`` when set, else :attr:`es_assembled`."""
        if self.es_home is None:
            return self.es_assembled
        return self.es_home / f"elasticsearch-{self.versions.elasticsearch}"

    @property
    def plugin_build(self) -> Path:
        return self.home / "build" / f"{PLUGIN_NAME}-{self.versions.elasticsearch}"

    @property
    def kafka_data(self) -> Path:
        return self.home / "data" / "kafka"

    @property
    def es_data(self) -> Path:
        return self.legacy_es_data if self.es_home is None else self.es_home / "data"

    @property
    def legacy_es_data(self) -> Path:
        """Where the data lives without ``es_home`` (and where older versions kept it as root)."""
        return self.home / "data" / "elasticsearch"

    @property
    def es_logs(self) -> Path:
        return self.logs / "elasticsearch" if self.es_home is None else self.es_home / "logs"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def es_tmp(self) -> Path:
        return self.home / "tmp" / "elasticsearch" if self.es_home is None else self.es_home / "tmp"

    def pid_file(self, server: str) -> Path:
        return self.run / f"{server}.pid"

    def out_file(self, server: str) -> Path:
        return self.logs / f"{server}.out"


def es_home_for(home: Path) -> Path:
    """The Elasticsearch user's folder for ``home`` when running as root:
    ``/var/lib/hadath-es/<first 12 hex of sha256(str(home))>``."""
    return ES_HOMES / hashlib.sha256(str(home).encode()).hexdigest()[:12]


def layout(settings: Settings, versions: Versions | None = None, *, as_root: bool | None = None) -> Layout:
    """The :class:`Layout` of ``settings.home`` for the versions of ``.env``; with ``as_root``
    (default: whether this process is root) Elasticsearch gets :func:`es_home_for` ``home``."""
    home = Path(settings.home).expanduser().resolve()
    if as_root is None:
        as_root = os.geteuid() == 0
    return Layout(home, versions or read_versions(), es_home_for(home) if as_root else None)


# --------------------------------------------------------------------------- addresses, configs


def kafka_address(settings: Settings) -> tuple[str, int]:
    """Host and port of the first ``HADATH_KAFKA_BOOTSTRAP`` entry (default port 9092)."""
    first = settings.kafka_bootstrap.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    host, _, port = first.rpartition(":")
    if not host:
        return first or "127.0.0.1", 9092
    return host.strip("[]"), int(port)


def es_address(settings: Settings) -> tuple[str, int]:
    """Host and port of ``HADATH_ES_URL`` (default port 9200)."""
    url = urllib.parse.urlsplit(settings.es_url)
    return url.hostname or "127.0.0.1", url.port or 9200


def render(template: str, values: dict[str, object]) -> str:
    """Replace each ``@NAME@`` of ``template``; raises ValueError if one is left unfilled."""
    text = template
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"unfilled placeholders: {sorted(set(left))}")
    return text


def kafka_properties(settings: Settings, data_dir: Path, template: str | None = None) -> str:
    """Kafka ``server.properties`` for ``settings`` (KRaft single node, see the template)."""
    host, port = kafka_address(settings)
    template = KAFKA_PROPERTIES_TEMPLATE.read_text(encoding="utf-8") if template is None else template
    return render(
        template,
        {
            "HOST": host,
            "PORT": port,
            "CONTROLLER_HOST": host,
            "CONTROLLER_PORT": port + CONTROLLER_PORT_OFFSET,
            "DATA_DIR": data_dir,
            "NUM_PARTITIONS": settings.topic_partitions,
            "MAX_MESSAGE_BYTES": limits.broker_max_message_bytes(settings),
        },
    )


def elasticsearch_yml(settings: Settings, data_dir: Path, logs_dir: Path, template: str | None = None) -> str:
    """``elasticsearch.yml`` for ``settings`` (single node, security on over plain HTTP, disk
    threshold off)."""
    host, port = es_address(settings)
    template = ES_YML_TEMPLATE.read_text(encoding="utf-8") if template is None else template
    return render(template, {"HOST": host, "PORT": port, "DATA_DIR": data_dir, "LOGS_DIR": logs_dir})


def plugin_descriptor(es_version: str, template: str | None = None) -> str:
    """``plugin-descriptor.properties`` of the analysis plugin for ``es_version``."""
    if template is None:
        template = (PLUGIN_DIR / "plugin-descriptor.properties").read_text(encoding="utf-8")
    return render(template, {"ES_VERSION": es_version})


def heap_options() -> list[str]:
    """JVM heap flags shared by both servers (512 MiB initial, 1 GiB max)."""
    return [f"-Xms{HEAP_MIN_MB}m", f"-Xmx{HEAP_MAX_MB}m"]


def kafka_command(java: Path, lay: Layout) -> list[str]:
    """The ``java`` command line that runs the Kafka broker+controller."""
    return [
        str(java),
        *heap_options(),
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={lay.kafka_dist / 'config' / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={lay.logs / 'kafka'}",
        "-cp",
        str(lay.kafka_libs / "*"),
        "kafka.Kafka",
        str(lay.kafka_config),
    ]


# --------------------------------------------------------------------------- java, maven


def java_version(java_home: Path) -> int | None:
    """Feature version (17, 21, 25, ...) of the JDK/JRE at ``java_home``, or None."""
    release = java_home / "release"
    if release.is_file():
        m = re.search(r'^JAVA_VERSION="([0-9]+)', release.read_text(errors="replace"), re.M)
        if m:
            return int(m.group(1))
    java = java_home / "bin" / "java"
    if not java.is_file():
        return None
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "([0-9]+)(?:\.([0-9]+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def java_home_candidates() -> list[Path]:
    """JDK folders to try, best first: ES_JAVA_HOME, JAVA_HOME, known folders, /usr/lib/jvm/*,
    the ``java`` on PATH."""
    seen: list[Path] = []

    def add(p: str | Path | None) -> None:
        if p:
            path = Path(p).resolve()
            if path not in seen and (path / "bin" / "java").is_file():
                seen.append(path)

    add(os.environ.get("ES_JAVA_HOME"))
    add(os.environ.get("JAVA_HOME"))
    for c in JDK_CANDIDATES:
        add(c)
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        for c in sorted(jvm.iterdir(), reverse=True):
            add(c)
    on_path = shutil.which("java")
    if on_path:
        add(Path(on_path).resolve().parent.parent)
    return seen


def find_jdk(min_version: int, *, need_javac: bool = False, prefer_lowest: bool = False) -> Path:
    """A Java home of at least ``min_version`` (with ``javac`` when ``need_javac``).

    Raises RuntimeError naming what to install."""
    found = []
    for home in java_home_candidates():
        version = java_version(home)
        if version is None or version < min_version:
            continue
        if need_javac and not (home / "bin" / "javac").is_file():
            continue
        found.append((version, home))
    if not found:
        what = "JDK" if need_javac else "Java"
        raise RuntimeError(
            f"no {what} {min_version}+ found (tried ES_JAVA_HOME, JAVA_HOME, {', '.join(JDK_CANDIDATES)}, "
            f"/usr/lib/jvm/*, java on PATH): install a JDK 21+ (Elasticsearch) and Maven; "
            f"Kafka needs Java 17+"
        )
    if prefer_lowest:
        return min(found, key=lambda t: t[0])[1]
    return found[0][1]


def find_maven() -> str:
    """Path of ``mvn``; raises RuntimeError when Maven is missing."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise RuntimeError("Maven (mvn) not found: install a JDK 21+ and Maven (needed once, to download the servers)")
    return mvn


# --------------------------------------------------------------------------- small helpers


def _run(cmd: list[str], *, what: str, env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 1800, stdin_text: str | None = None) -> str:
    """Run ``cmd`` (``stdin_text`` on its standard input, never on the command line); return
    its stdout; raise RuntimeError with its output on failure."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout,
                              input=stdin_text, stdin=None if stdin_text is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what}: timed out after {timeout:.0f} s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return f"({path} not found)"
    # Java stack frames push the cause out of view: keep the messages only.
    kept = [ln for ln in data.splitlines() if not re.match(r"\s+(at |\.\.\. \d+ more)", ln)]
    return "\n".join(kept[-lines:])


#: Words one of which the command line of a server process we started contains (java, or the
#: setpriv/bash steps that exec into it).
_SERVER_COMMAND_WORDS = (b"java", b"elasticsearch", b"setpriv", b"kafka")


def _alive(pid: int | None) -> bool:
    """Whether ``pid`` is a live server process of ours (see :func:`hadath.pids.alive`)."""
    return alive(pid, command_words=_SERVER_COMMAND_WORDS)


def _running_pid(lay: Layout, server: str) -> int | None:
    pid = read_pid(lay.pid_file(server))
    return pid if _alive(pid) else None


# --------------------------------------------------------------------------- readiness probes


def kafka_metadata(host: str, port: int, timeout_seconds: float = 3.0) -> dict | None:
    """Send a Kafka Metadata request (v4, no topics) and return ``{"brokers": n, "cluster_id":
    str, "controller_id": int}``, or None when nothing (or not Kafka) answers."""
    client_id = b"hadath-infra"
    correlation_id = 7
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    body = struct.pack(">i?", 0, False)  # topics: empty array (none); allow_auto_topic_creation
    request = header + body
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds) as sock:
            sock.settimeout(timeout_seconds)
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _recv_exact(sock, 4))[0]
            if not 0 < size < 10_000_000:
                return None
            data = _recv_exact(sock, size)
    except (OSError, struct.error):
        return None
    try:
        (corr,) = struct.unpack_from(">i", data, 0)
        if corr != correlation_id:
            return None
        pos = 8  # correlation id, throttle_time_ms
        (n_brokers,) = struct.unpack_from(">i", data, pos)
        pos += 4
        for _ in range(n_brokers):
            pos += 4  # node_id
            (hlen,) = struct.unpack_from(">h", data, pos)
            pos += 2 + hlen + 4  # host, port
            (rlen,) = struct.unpack_from(">h", data, pos)
            pos += 2 + max(rlen, 0)  # rack (nullable)
        (clen,) = struct.unpack_from(">h", data, pos)
        pos += 2
        cluster_id = data[pos : pos + clen].decode() if clen >= 0 else None
        pos += max(clen, 0)
        (controller_id,) = struct.unpack_from(">i", data, pos)
    except (struct.error, UnicodeDecodeError):
        return None
    return {"brokers": n_brokers, "cluster_id": cluster_id, "controller_id": controller_id}


def _port_open(host: str, port: int, timeout_seconds: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds):
            return True
    except OSError:
        return False


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def kafka_ready(settings: Settings, timeout_seconds: float = 3.0) -> bool:
    """Whether a Kafka broker answers a Metadata request with at least one broker."""
    meta = kafka_metadata(*kafka_address(settings), timeout_seconds=timeout_seconds)
    return bool(meta and meta["brokers"] >= 1)


def _es_request(settings: Settings, path: str, timeout_seconds: float, *,
                anonymous: bool = False) -> tuple[int | None, dict | None]:
    """``GET <HADATH_ES_URL><path>`` with the credentials of :func:`shared.es.es_auth` (none when
    ``anonymous``, or when there is no password yet): ``(HTTP status, JSON body)``, ``(None,
    None)`` when nothing answers, body None when it is not JSON or the status is not 2xx."""
    request = urllib.request.Request(settings.es_url.rstrip("/") + path)
    auth = None if anonymous else es_auth(settings, missing_ok=True)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    status = None
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as resp:
            status = resp.status
            return status, json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, None
    except ValueError:
        return status, None
    except OSError:  # URLError, refused, timeout
        return None, None


def es_ready(settings: Settings, timeout_seconds: float = 3.0) -> bool:
    """Whether Elasticsearch answers ``GET /_cluster/health`` (with the configured credentials)
    with yellow or green."""
    _, health = _es_request(settings, "/_cluster/health", timeout_seconds)
    return bool(health and health.get("status") in ("yellow", "green"))


def es_security(settings: Settings, timeout_seconds: float = 3.0) -> bool | None:
    """Whether Elasticsearch refuses an anonymous ``GET /_cluster/health`` (401: security on),
    False when it answers it (security off), None when it does not answer either way."""
    status, _ = _es_request(settings, "/_cluster/health", timeout_seconds, anonymous=True)
    return {401: True, 200: False}.get(status) if status is not None else None


def _es_refuses_password(settings: Settings, timeout_seconds: float = 3.0) -> bool:
    """Whether Elasticsearch answers 401 to the configured credentials."""
    return _es_request(settings, "/_cluster/health", timeout_seconds)[0] == 401


# --------------------------------------------------------------------------- assembly


def _unzip(zip_path: Path, dest: Path) -> None:
    """Extract ``zip_path`` into ``dest`` keeping the Unix permission bits."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)


def assemble_kafka(lay: Layout, progress: Progress) -> None:
    """Download kafka_2.13 + log4j2 into ``dist/kafka-<v>/libs`` (once)."""
    marker = lay.kafka_libs / ".complete"
    if marker.is_file():
        return
    mvn = find_maven()
    progress(f"Kafka {lay.versions.kafka}: downloading from Maven Central into {lay.kafka_libs}")
    staging = lay.kafka_dist / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    _run(
        [mvn, "-B", "-q", "-f", str(KAFKA_POM), f"-Dkafka.version={lay.versions.kafka}",
         f"-Doutput.dir={staging}", f"-Dmaven.repo.local={lay.m2}",
         f"-Dproject.build.directory={lay.home / 'build' / 'mvn-kafka'}", "dependency:copy-dependencies"],
        what="downloading Kafka with Maven",
    )
    if not any(staging.glob(f"kafka_2.13-{lay.versions.kafka}.jar")):
        raise RuntimeError(f"Maven did not produce kafka_2.13-{lay.versions.kafka}.jar in {staging}")
    shutil.rmtree(lay.kafka_libs, ignore_errors=True)
    staging.rename(lay.kafka_libs)
    marker.write_text(lay.versions.kafka)


def assemble_elasticsearch(lay: Layout, progress: Progress) -> None:
    """Download and unpack the integ-test distribution into ``dist/elasticsearch-<v>`` (once)."""
    if (lay.es_assembled / ".complete").is_file():
        return
    version = lay.versions.elasticsearch
    zip_path = lay.es_zip_dir / f"elasticsearch-{version}.zip"
    if not zip_path.is_file():
        mvn = find_maven()
        progress(f"Elasticsearch {version}: downloading the integ-test distribution from Maven Central")
        _run(
            [mvn, "-B", "-q", "-f", str(ES_POM), f"-Delasticsearch.version={version}",
             f"-Doutput.dir={lay.es_zip_dir}", f"-Dmaven.repo.local={lay.m2}",
             f"-Dproject.build.directory={lay.home / 'build' / 'mvn-es'}", "dependency:copy"],
            what="downloading Elasticsearch with Maven",
        )
    progress(f"Elasticsearch {version}: unpacking into {lay.es_assembled}")
    staging = lay.home / "dist" / f".elasticsearch-{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _unzip(zip_path, staging)
    inner = staging / f"elasticsearch-{version}"
    if not (inner / "bin" / "elasticsearch").is_file():
        raise RuntimeError(f"{zip_path} does not hold elasticsearch-{version}/bin/elasticsearch")
    shutil.rmtree(lay.es_assembled, ignore_errors=True)
    inner.rename(lay.es_assembled)
    shutil.rmtree(staging, ignore_errors=True)
    (lay.es_assembled / ".complete").write_text(version)


def plugin_sources() -> list[Path]:
    """Java sources of the analysis plugin."""
    return sorted((PLUGIN_DIR / "src").rglob("*.java"))


def plugin_fingerprint(es_version: str) -> str:
    """Hash of the plugin sources, descriptor and target version (reinstall when it changes)."""
    h = hashlib.sha256(es_version.encode())
    for path in [PLUGIN_DIR / "plugin-descriptor.properties", *plugin_sources()]:
        h.update(path.relative_to(PLUGIN_DIR).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def install_plugin(lay: Layout, jdk: Path, progress: Progress) -> None:
    """Build the analysis plugin with ``javac`` against the server's ``lib/*`` and install it
    with ``bin/elasticsearch-plugin`` (again whenever its sources change)."""
    version = lay.versions.elasticsearch
    fingerprint = plugin_fingerprint(version)
    marker = lay.plugin_build / "installed.sha256"
    installed = lay.es_assembled / "plugins" / PLUGIN_NAME
    if installed.is_dir() and marker.is_file() and marker.read_text().strip() == fingerprint:
        return
    progress(f"Elasticsearch: building and installing the {PLUGIN_NAME} plugin")
    env = {**os.environ, "ES_JAVA_HOME": str(jdk)}
    env.pop("ES_PATH_CONF", None)
    plugin_cli = lay.es_assembled / "bin" / "elasticsearch-plugin"
    if installed.exists():
        _run([str(plugin_cli), "remove", "--purge", PLUGIN_NAME], what="removing the old plugin", env=env)
    shutil.rmtree(lay.plugin_build, ignore_errors=True)
    classes = lay.plugin_build / "classes"
    classes.mkdir(parents=True)
    _run(
        [str(jdk / "bin" / "javac"), "--release", str(ES_MIN_JAVA), "-proc:none", "-encoding", "UTF-8",
         "-nowarn", "-cp", str(lay.es_assembled / "lib" / "*"), "-d", str(classes),
         *map(str, plugin_sources())],
        what="compiling the analysis plugin",
    )
    jar = lay.plugin_build / f"{PLUGIN_NAME}-{version}.jar"
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: hadath hadath/infra.py\r\n\r\n")
        for path in sorted(classes.rglob("*.class")):
            zf.write(path, path.relative_to(classes).as_posix())
    bundle = lay.plugin_build / f"{PLUGIN_NAME}-{version}.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("plugin-descriptor.properties", plugin_descriptor(version))
        zf.write(jar, jar.name)
    _run([str(plugin_cli), "install", "--batch", bundle.as_uri()], what="installing the analysis plugin", env=env)
    marker.write_text(fingerprint)


def format_kafka_storage(lay: Layout, java: Path, progress: Progress) -> None:
    """Format the KRaft log dir once: ``StorageTool random-uuid`` then ``format -t ID -c ...
    --ignore-formatted`` (static quorum, so no ``--standalone``)."""
    if (lay.kafka_data / "meta.properties").is_file():
        return
    progress("Kafka: formatting KRaft storage")
    cp = str(lay.kafka_libs / "*")
    log4j = f"-Dlog4j2.configurationFile={lay.kafka_dist / 'config' / 'log4j2.properties'}"
    logs = f"-Dkafka.logs.dir={lay.logs / 'kafka'}"
    base = [str(java), "-Xmx256m", log4j, logs, "-cp", cp, "kafka.tools.StorageTool"]
    cluster_id = _run([*base, "random-uuid"], what="Kafka StorageTool random-uuid").strip().splitlines()[-1].strip()
    _run([*base, "format", "-t", cluster_id, "-c", str(lay.kafka_config), "--ignore-formatted"],
         what="Kafka StorageTool format")


# --------------------------------------------------------------------------- the ES user


def _es_user_ids() -> tuple[int, int] | None:
    """(uid, gid) to run Elasticsearch as, or None when not root (run as the current user)."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(ES_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        _run([useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
              "--shell", "/usr/sbin/nologin", ES_USER], what=f"creating the system user {ES_USER}")
        entry = pwd.getpwnam(ES_USER)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.lchown(dirpath, uid, gid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def revoke_legacy_traverse(home: Path, user_home: Path, progress: Progress) -> list[Path]:
    """Take back the "others may traverse" bit that older versions added above ``home``: each
    of ``home`` and its parents inside ``user_home`` (``user_home`` included) whose bits for
    others are exactly ``--x``. Returns the folders changed."""
    changed = []
    for p in (home, *home.parents):
        if p != user_home and user_home not in p.parents:
            continue
        try:
            mode = stat.S_IMODE(p.stat().st_mode)
        except OSError:
            continue
        if mode & 0o007 == stat.S_IXOTH:
            progress(f"Elasticsearch no longer needs to traverse {p}: chmod o-x (added by an older hadath)")
            os.chmod(p, mode & ~stat.S_IXOTH)
            changed.append(p)
    return changed


# --------------------------------------------------------------------------- the password


def ensure_password(settings: Settings, progress: Progress) -> str:
    """The password the local node gives the ``elastic`` user: ``HADATH_ES_PASSWORD`` when set,
    else the one in :func:`shared.es.password_file`, generated there on first use
    (``secrets.token_urlsafe``, 32 characters; folder 0700, file 0600; the password is never
    printed). Raises RuntimeError when ``HADATH_ES_PASSWORD`` is empty or the file unreadable."""
    if settings.es_password is not None:
        password = settings.es_password.get_secret_value()
        if not password:
            raise RuntimeError(f"{env_name('es_password')} is empty, but the local Elasticsearch needs a password: "
                               f"unset it (one is generated into {password_file(settings)}) or give one")
        return password
    path = password_file(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    auth = es_auth(settings, missing_ok=True)
    if auth is not None:
        return auth[1]
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # written meanwhile by a concurrent `up`
        return es_auth(settings)[1]
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    progress(f"Elasticsearch: generated a password for the user elastic into {path} (mode 0600)")
    return password


def _set_bootstrap_password(lay: Layout, run_as: list[str], env: dict[str, str], password: str) -> None:
    """Put ``password`` into the node's keystore as ``bootstrap.password`` (created if missing),
    through the tool's standard input, running the tool as the node's user (``run_as``: the
    ``setpriv`` prefix, or empty; the tool refuses to rewrite a keystore another user owns).
    The node takes it as the ``elastic`` password for as long as that password was never
    changed through the security API."""
    tool = [*run_as, str(lay.es_dist / "bin" / "elasticsearch-keystore")]
    if not (lay.es_dist / "config" / "elasticsearch.keystore").is_file():
        _run([*tool, "create"], what="creating the Elasticsearch keystore", env=env, cwd=lay.es_dist)
    _run([*tool, "add", "--stdin", "--force", "bootstrap.password"], what="setting bootstrap.password",
         env=env, cwd=lay.es_dist, stdin_text=password)


def _refused(settings: Settings) -> RuntimeError:
    """The error for a node that answers 401 to the configured password."""
    source = env_name("es_password") if settings.es_password is not None else str(password_file(settings))
    return RuntimeError(
        f"Elasticsearch at {settings.es_url} refuses the password of {settings.es_user} from {source} (401): "
        f"set {env_name('es_password')} to that user's password (if it was changed in the cluster, or "
        f"reset it with bin/elasticsearch-reset-password -u {settings.es_user})")


# --------------------------------------------------------------------------- the ES user's folder


def _prepare_es_home(lay: Layout, uid: int, gid: int, progress: Progress) -> None:
    """Create ``lay.es_home`` (owned by the ES user, 0750), copy the assembled distribution
    into it when that changed, and move data an older version left in ``home`` into it."""
    assert lay.es_home is not None
    for d in (ES_HOMES, lay.es_home):
        d.mkdir(mode=ES_HOME_MODE, parents=True, exist_ok=True)
        os.chown(d, uid, gid)
        os.chmod(d, ES_HOME_MODE)
    _write_if_changed(lay.es_home / "hadath-home.txt", f"{lay.home}\n")
    source = f"{lay.versions.elasticsearch} {plugin_fingerprint(lay.versions.elasticsearch)}\n"
    marker = lay.es_dist / ".hadath-source"
    if not (marker.is_file() and marker.read_text() == source):
        progress(f"Elasticsearch runs as {ES_USER}: copying the distribution to {lay.es_dist}")
        shutil.rmtree(lay.es_dist, ignore_errors=True)
        shutil.copytree(lay.es_assembled, lay.es_dist, symlinks=True)
        marker.write_text(source)
    old = lay.legacy_es_data
    if old.is_dir() and any(old.iterdir()):
        if lay.es_data.is_dir() and any(lay.es_data.iterdir()):
            progress(f"warning: Elasticsearch data in both {old} and {lay.es_data}: using the latter, "
                     f"{old} left as it is")
        else:
            progress(f"Elasticsearch: moving its data from {old} to {lay.es_data} (its own folder)")
            shutil.rmtree(lay.es_data, ignore_errors=True)
            shutil.move(str(old), str(lay.es_data))
            revoke_legacy_traverse(lay.home, Path.home().resolve(), progress)


# --------------------------------------------------------------------------- start / stop


def _spawn(cmd: list[str], *, out: Path, pid_file: Path, env: dict[str, str], cwd: Path) -> int:
    """Start ``cmd`` detached (own session, stdin closed, output to ``out``); write its pid."""
    out.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with out.open("ab") as fh:
        fh.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                env=env, cwd=cwd, start_new_session=True, close_fds=True)
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def _start_kafka(settings: Settings, lay: Layout, progress: Progress) -> int:
    java_home = find_jdk(KAFKA_MIN_JAVA, prefer_lowest=True)
    java = java_home / "bin" / "java"
    assemble_kafka(lay, progress)
    (lay.kafka_dist / "config").mkdir(parents=True, exist_ok=True)
    _write_if_changed(lay.kafka_config, kafka_properties(settings, lay.kafka_data))
    _write_if_changed(lay.kafka_dist / "config" / "log4j2.properties", KAFKA_LOG4J2.read_text(encoding="utf-8"))
    (lay.logs / "kafka").mkdir(parents=True, exist_ok=True)
    lay.kafka_data.mkdir(parents=True, exist_ok=True)
    format_kafka_storage(lay, java, progress)
    progress(f"Kafka {lay.versions.kafka}: starting on {settings.kafka_bootstrap} (java {java_version(java_home)})")
    env = {**os.environ, "JAVA_HOME": str(java_home)}
    return _spawn(kafka_command(java, lay), out=lay.out_file("kafka"), pid_file=lay.pid_file("kafka"),
                  env=env, cwd=lay.kafka_dist)


def _start_elasticsearch(settings: Settings, lay: Layout, progress: Progress) -> int:
    jdk = find_jdk(ES_MIN_JAVA, need_javac=True)
    assemble_elasticsearch(lay, progress)
    install_plugin(lay, jdk, progress)
    password = ensure_password(settings, progress)
    ids = _es_user_ids() if lay.es_home is not None else None
    if ids is not None:
        _prepare_es_home(lay, *ids, progress)
    for d in (lay.es_data, lay.es_logs, lay.es_tmp, lay.run):
        d.mkdir(parents=True, exist_ok=True)
    config = lay.es_dist / "config"
    _write_if_changed(config / "elasticsearch.yml", elasticsearch_yml(settings, lay.es_data, lay.es_logs))
    env = {k: v for k, v in os.environ.items() if k not in ("ES_PATH_CONF", "JAVA_HOME", "ES_JAVA_OPTS")}
    env.update({"ES_JAVA_HOME": str(jdk), "ES_JAVA_OPTS": " ".join(heap_options()), "ES_TMPDIR": str(lay.es_tmp)})
    run_as: list[str] = []
    if ids is not None:
        uid, gid = ids
        _chown_tree(lay.es_home, uid, gid)
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        run_as = [setpriv, f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--"]
        env["HOME"] = str(lay.es_tmp)
        env["USER"] = env["LOGNAME"] = ES_USER
    _set_bootstrap_password(lay, run_as, env, password)
    cmd = [*run_as, str(lay.es_dist / "bin" / "elasticsearch")]
    progress(f"Elasticsearch {lay.versions.elasticsearch}: starting on {settings.es_url} "
             f"(java {java_version(jdk)}{f', as {ES_USER} from {lay.es_home}' if ids else ''})")
    return _spawn(cmd, out=lay.out_file("elasticsearch"), pid_file=lay.pid_file("elasticsearch"),
                  env=env, cwd=lay.es_dist)


def _failure(server: str, lay: Layout, reason: str) -> RuntimeError:
    parts = [f"{server} {reason}.", f"--- {lay.out_file(server)} (tail) ---", _tail(lay.out_file(server))]
    extra = lay.logs / "kafka" / "server.log" if server == "kafka" else lay.es_logs / "hadath-local.log"
    if extra.is_file():
        parts += [f"--- {extra} (tail) ---", _tail(extra)]
    return RuntimeError("\n".join(parts))


def up(settings: Settings, *, timeout_seconds: float = 600, progress: Progress = print) -> None:
    """Start the local Kafka and Elasticsearch and wait until both answer.

    The first run downloads and assembles both servers into ``settings.home`` (a few minutes);
    later runs start them in ~20-40 s. A no-op for a server that already answers (whoever
    started it), except an Elasticsearch this tool started that still runs with security off
    (an older version): that one is restarted with security on. Raises RuntimeError, with the
    log tail, when one exits or does not answer within ``timeout_seconds`` (the other one is
    left running), and when Elasticsearch refuses the configured password.
    """
    deadline = time.monotonic() + timeout_seconds
    lay = layout(settings)
    es_up = es_ready(settings)
    if es_up and es_security(settings) is False:
        if _running_pid(lay, "elasticsearch") is not None:
            progress("elasticsearch: runs with security off (started by an older hadath): "
                     "restarting it with security on (data kept)")
            _stop(lay, "elasticsearch", STOP_GRACE_SECONDS)
            es_up = False
        else:
            progress(f"warning: Elasticsearch at {settings.es_url} answers anonymous requests (security off) "
                     f"and was not started from {env_name('home')}={lay.home}: left as it is")
    want = {"kafka": not kafka_ready(settings), "elasticsearch": not es_up}
    if not any(want.values()):
        return
    for d in (lay.home, lay.logs, lay.run):
        d.mkdir(parents=True, exist_ok=True)
    pids: dict[str, int] = {}
    starters = {"kafka": _start_kafka, "elasticsearch": _start_elasticsearch}
    for server, needed in want.items():
        if not needed:
            continue
        if server == "elasticsearch" and _es_refuses_password(settings):
            raise _refused(settings)
        pid = _running_pid(lay, server)
        if pid is not None:
            progress(f"{server}: already starting (pid {pid}), waiting")
        else:
            host, port = kafka_address(settings) if server == "kafka" else es_address(settings)
            if _port_open(host, port):
                raise RuntimeError(
                    f"{server}: something that is not a working {server} already listens on {host}:{port} "
                    f"(not started by this tool: stop it, or point HADATH_* settings elsewhere)"
                )
            pid = starters[server](settings, lay, progress)
        pids[server] = pid
    probes = {"kafka": kafka_ready, "elasticsearch": es_ready}
    pending = set(pids)
    started = time.monotonic()
    refused_since: float | None = None
    while pending:
        for server in sorted(pending):
            if probes[server](settings, 2.0):
                progress(f"{server}: ready after {time.monotonic() - started:.1f} s")
                pending.discard(server)
            elif server == "elasticsearch" and _es_refuses_password(settings, 2.0):
                refused_since = refused_since or time.monotonic()
                if time.monotonic() - refused_since > AUTH_REFUSED_SECONDS:
                    raise _refused(settings)
            elif not _alive(pids[server]):
                time.sleep(1.0)  # make sure (exec transitions, slow proc reads)
                if not _alive(pids[server]) and not probes[server](settings, 2.0):
                    lay.pid_file(server).unlink(missing_ok=True)
                    raise _failure(server, lay, "exited during start-up")
        if pending:
            if time.monotonic() > deadline:
                raise _failure(sorted(pending)[0], lay, f"did not answer within {timeout_seconds:.0f} s")
            time.sleep(POLL_INTERVAL_SECONDS)


def _stop(lay: Layout, server: str, grace_seconds: float) -> None:
    pid_file = lay.pid_file(server)
    pid = read_pid(pid_file)
    if pid and _alive(pid):
        for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pid, sig)  # the process group: launcher and the server JVM it forks
            except ProcessLookupError:
                break
            except PermissionError:
                os.kill(pid, sig)
            end = time.monotonic() + wait
            while time.monotonic() < end and _group_alive(pid):
                time.sleep(0.2)
            if not _group_alive(pid):
                break
    pid_file.unlink(missing_ok=True)


def _group_alive(pgid: int) -> bool:
    """Whether any live process of process group ``pgid`` remains."""
    if _alive(pgid):
        return True
    for _, fields in proc_stats():
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def down(settings: Settings) -> None:
    """Stop both servers (SIGTERM, SIGKILL after a grace period) and remove the pid files.

    No error when they are not running; servers not started by :func:`up` are left alone."""
    lay = layout(settings)
    _stop(lay, "kafka", STOP_GRACE_SECONDS)
    _stop(lay, "elasticsearch", STOP_GRACE_SECONDS)


def status(settings: Settings) -> dict:
    """State of both servers::

        {"kafka": {"running": bool, "pid": int | None, "address": "127.0.0.1:9092", "version": "4.1.1"},
         "elasticsearch": {"running": ..., "pid": ..., "address": "http://127.0.0.1:9200", "version": ...,
                           "security": bool | None}}

    ``running`` means the server answers (Kafka: a Metadata request; Elasticsearch: cluster
    health yellow/green); ``pid`` is that of the process :func:`up` started, if alive;
    ``version`` is the one reported by Elasticsearch when it answers, else the configured one;
    ``security`` whether it refuses anonymous requests (None: no answer).
    """
    lay = layout(settings)
    host, port = kafka_address(settings)
    es_root = _es_request(settings, "/", 2.0)[1] or {}
    return {
        "kafka": {
            "running": kafka_ready(settings, 2.0),
            "pid": _running_pid(lay, "kafka"),
            "address": f"{host}:{port}",
            "version": lay.versions.kafka,
        },
        "elasticsearch": {
            "running": es_ready(settings, 2.0),
            "pid": _running_pid(lay, "elasticsearch"),
            "address": settings.es_url,
            "version": (es_root.get("version") or {}).get("number") or lay.versions.elasticsearch,
            "security": es_security(settings, 2.0),
        },
    }


def wipe(settings: Settings) -> None:
    """Stop both servers and delete their data (topics, consumer offsets, indices; under
    ``home`` and the Elasticsearch user's folder); downloads, the assembled servers, the
    password and the logs are kept."""
    down(settings)
    lay = layout(settings)
    for d in (lay.kafka_data, lay.es_data, lay.legacy_es_data, lay.es_tmp):
        shutil.rmtree(d, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m hadath.infra up|down|status|wipe``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("up", "down", "status", "wipe"):
        print("usage: python -m hadath.infra up|down|status|wipe", file=sys.stderr)
        return 2
    settings = Settings()
    try:
        if args[0] == "up":
            started = time.monotonic()
            up(settings)
            print(f"Kafka and Elasticsearch are up ({time.monotonic() - started:.1f} s)")
        elif args[0] == "down":
            down(settings)
            print("Kafka and Elasticsearch stopped")
        elif args[0] == "wipe":
            wipe(settings)
            print("Kafka and Elasticsearch stopped, data deleted")
        else:
            print(json.dumps(status(settings), indent=2))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

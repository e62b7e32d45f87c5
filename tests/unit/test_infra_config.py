"""Unit tests of the pure parts of hadath.infra (no servers, no downloads)."""

from __future__ import annotations

import os
import re
import socket
import stat
import struct
import threading
from pathlib import Path

import pytest

from shared import es, limits
from hadath import infra
from shared.settings import Settings, env_name


@pytest.fixture(autouse=True)
def _default_environment(monkeypatch):
    """These tests check defaults: the caller's HADATH_* variables (a stack on other ports) do not count."""
    for field in Settings.model_fields:
        monkeypatch.delenv(env_name(field), raising=False)


def _settings(tmp_path: Path, **kw) -> Settings:
    return Settings(home=tmp_path / "home", **kw)


# ---------------------------------------------------------------- .env / versions


def test_repo_env_file_names_both_versions():
    versions = infra.read_versions(infra.ENV_FILE, environ={})
    assert versions.kafka.startswith("4.")
    assert versions.elasticsearch.startswith("9.")


def test_read_env_file_syntax(tmp_path):
    env = tmp_path / ".env"
    env.write_text(
        "# comment\n\nKAFKA_VERSION=4.1.1\nexport ELASTICSEARCH_VERSION='9.5.3'\n"
        'QUOTED="a b"\nTRAILING=1.2 # note\nnot a pair\n',
        encoding="utf-8",
    )
    assert infra.read_env_file(env) == {
        "KAFKA_VERSION": "4.1.1",
        "ELASTICSEARCH_VERSION": "9.5.3",
        "QUOTED": "a b",
        "TRAILING": "1.2",
    }


def test_environment_wins_over_env_file(tmp_path):
    env = tmp_path / ".env"
    env.write_text("KAFKA_VERSION=4.1.1\nELASTICSEARCH_VERSION=9.5.3\n", encoding="utf-8")
    v = infra.read_versions(env, environ={"KAFKA_VERSION": "4.2.0"})
    assert v == infra.Versions(kafka="4.2.0", elasticsearch="9.5.3")


def test_missing_or_bad_version_is_a_clear_error(tmp_path):
    env = tmp_path / ".env"
    env.write_text("KAFKA_VERSION=4.1.1\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="ELASTICSEARCH_VERSION"):
        infra.read_versions(env, environ={})
    env.write_text("KAFKA_VERSION=4.1.1; rm -rf /\nELASTICSEARCH_VERSION=9.5.3\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="not a version"):
        infra.read_versions(env, environ={})


# ---------------------------------------------------------------- addresses, layout


@pytest.mark.parametrize(
    ("bootstrap", "expected"),
    [
        ("127.0.0.1:9092", ("127.0.0.1", 9092)),
        ("localhost:19092,other:9092", ("localhost", 19092)),
        ("PLAINTEXT://127.0.0.1:9095", ("127.0.0.1", 9095)),
        ("somehost", ("somehost", 9092)),
    ],
)
def test_kafka_address(tmp_path, bootstrap, expected):
    assert infra.kafka_address(_settings(tmp_path, kafka_bootstrap=bootstrap)) == expected


def test_es_address(tmp_path):
    assert infra.es_address(_settings(tmp_path)) == ("127.0.0.1", 9200)
    assert infra.es_address(_settings(tmp_path, es_url="http://localhost:19200/")) == ("localhost", 19200)
    assert infra.es_address(_settings(tmp_path, es_url="http://eshost")) == ("eshost", 9200)


VERSIONS = infra.Versions(kafka="4.1.1", elasticsearch="9.5.3")


def test_layout_stays_under_home(tmp_path):
    s = _settings(tmp_path)
    lay = infra.layout(s, VERSIONS, as_root=False)
    home = (tmp_path / "home").resolve()
    assert lay.home == home and lay.es_home is None
    assert lay.kafka_libs == home / "dist" / "kafka-4.1.1" / "libs"
    assert lay.es_dist == lay.es_assembled == home / "dist" / "elasticsearch-9.5.3"
    assert lay.pid_file("kafka") == home / "run" / "kafka.pid"
    assert lay.out_file("elasticsearch") == home / "logs" / "elasticsearch.out"
    assert lay.es_data == lay.legacy_es_data == home / "data" / "elasticsearch"
    for p in (lay.m2, lay.kafka_data, lay.es_data, lay.es_logs, lay.es_tmp, lay.plugin_build):
        assert home in p.parents


def test_layout_as_root_gives_elasticsearch_its_own_folder(tmp_path):
    """As root, everything Elasticsearch (user hadath-es) reads or writes is outside home."""
    s = _settings(tmp_path)
    lay = infra.layout(s, VERSIONS, as_root=True)
    home = (tmp_path / "home").resolve()
    assert lay.es_home == infra.es_home_for(home)
    assert lay.es_home.parent == infra.ES_HOMES == Path("/var/lib/hadath-es")
    assert re.fullmatch(r"[0-9a-f]{12}", lay.es_home.name)
    assert infra.es_home_for(home / "other") != lay.es_home
    for p in (lay.es_dist, lay.es_data, lay.es_logs, lay.es_tmp):
        assert lay.es_home in p.parents and home not in p.parents
    # assembled (root-owned) under home; the copy it runs from is the ES user's
    assert lay.es_assembled == home / "dist" / "elasticsearch-9.5.3" != lay.es_dist
    assert lay.legacy_es_data == home / "data" / "elasticsearch"
    # Kafka, pid files and the password stay in home
    assert home in lay.kafka_data.parents and home in lay.pid_file("elasticsearch").parents


def test_revoke_legacy_traverse_takes_back_only_others_execute_only(tmp_path):
    user_home = tmp_path / "root"
    cache = user_home / ".cache"
    home = cache / "hadath"
    home.mkdir(parents=True)
    os.chmod(user_home, 0o701)  # what older versions left: drwx-----x
    os.chmod(cache, 0o755)      # readable by design: left alone
    os.chmod(home, 0o711)
    os.chmod(tmp_path, 0o701)   # outside user_home: left alone
    changed = infra.revoke_legacy_traverse(home, user_home, lambda *_: None)
    assert changed == [home, user_home]
    assert stat.S_IMODE(user_home.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.stat().st_mode) == 0o710
    assert stat.S_IMODE(cache.stat().st_mode) == 0o755
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o701
    os.chmod(tmp_path, 0o755)


# ---------------------------------------------------------------- the password


def test_ensure_password_generates_a_private_file_once(tmp_path):
    s = _settings(tmp_path)
    said: list[str] = []
    password = infra.ensure_password(s, said.append)
    path = es.password_file(s)
    assert path == (tmp_path / "home" / "secrets" / "elastic.password").resolve()
    assert len(password) >= 32 and password not in " ".join(said)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert infra.ensure_password(s, said.append) == password  # kept
    assert es.es_auth(s) == ("elastic", password)
    assert infra.ensure_password(_settings(tmp_path, es_password="given"), said.append) == "given"
    with pytest.raises(RuntimeError, match="HADATH_ES_PASSWORD is empty"):
        infra.ensure_password(_settings(tmp_path, es_password=""), said.append)


def test_es_auth_and_client_kwargs(tmp_path):
    s = _settings(tmp_path, es_url="http://127.0.0.1:9201", es_password="pw", es_user="u")
    assert es.es_auth(s) == ("u", "pw")
    assert es.client_kwargs(s) == {"hosts": ["http://127.0.0.1:9201"], "basic_auth": ("u", "pw"),
                                   "request_timeout": 30}
    assert es.client_kwargs(s, request_timeout=60)["request_timeout"] == 60
    assert "basic_auth" not in es.client_kwargs(_settings(tmp_path, es_password=""))  # anonymous by choice
    assert "pw" not in repr(s) and "pw" not in str(s)
    missing = _settings(tmp_path)
    assert es.es_auth(missing, missing_ok=True) is None
    with pytest.raises(RuntimeError, match="does not exist; run `hadath infra up`.*HADATH_ES_PASSWORD"):
        es.client_kwargs(missing)
    es.password_file(missing).parent.mkdir(parents=True)
    es.password_file(missing).write_text("\n")
    with pytest.raises(RuntimeError, match="is empty"):
        es.es_auth(missing)


def test_settings_env_passes_the_password_in_clear(tmp_path):
    from shared.settings import settings_env

    env = settings_env(_settings(tmp_path, es_password="s3cret"))
    assert env[env_name("es_password")] == "s3cret"
    assert env_name("es_user") in env


# ---------------------------------------------------------------- rendered configs


def _props(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def test_kafka_properties_single_node_kraft(tmp_path):
    text = infra.kafka_properties(_settings(tmp_path), tmp_path / "data" / "kafka")
    assert "@" not in text.replace("1@127.0.0.1", "")
    p = _props(text)
    assert p["process.roles"] == "broker,controller"
    assert p["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert p["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert p["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert p["log.dirs"] == str(tmp_path / "data" / "kafka")
    assert p["num.partitions"] == "8"
    assert p["auto.create.topics.enable"] == "true"
    assert p["group.initial.rebalance.delay.ms"] == "0"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "default.replication.factor", "transaction.state.log.min.isr"):
        assert p[key] == "1"
    assert int(p["message.max.bytes"]) == limits.broker_max_message_bytes(Settings()) >= 16 * 1024 * 1024
    assert int(p["replica.fetch.max.bytes"]) >= int(p["message.max.bytes"])


def test_kafka_properties_follow_settings(tmp_path):
    s = _settings(tmp_path, kafka_bootstrap="localhost:19092", topic_partitions=3,
                  max_message_bytes=20 * 1024 * 1024)
    p = _props(infra.kafka_properties(s, tmp_path))
    assert p["listeners"] == "PLAINTEXT://localhost:19092,CONTROLLER://localhost:19093"
    assert p["num.partitions"] == "3"
    # every record a stage may write, dead letters included, fits the broker
    assert int(p["message.max.bytes"]) == limits.deadletter_record_bytes(s) > 16 * 20 * 1024 * 1024
    assert p["replica.fetch.max.bytes"] == p["message.max.bytes"]


def test_elasticsearch_yml(tmp_path):
    text = infra.elasticsearch_yml(_settings(tmp_path), tmp_path / "d", tmp_path / "l")
    lines = {ln.split(":", 1)[0]: ln.split(":", 1)[1].strip() for ln in text.splitlines()
             if ln and not ln.startswith("#") and ":" in ln}
    assert lines["discovery.type"] == "single-node"
    assert lines["network.host"] == "127.0.0.1"
    assert lines["http.port"] == "9200"
    assert lines["xpack.security.enabled"] == "true"
    assert lines["xpack.security.http.ssl.enabled"] == "false"
    assert lines["xpack.security.transport.ssl.enabled"] == "false"
    assert lines["cluster.routing.allocation.disk.threshold_enabled"] == "false"
    assert lines["action.auto_create_index"] == "true"
    assert lines["path.data"] == str(tmp_path / "d")
    assert lines["path.logs"] == str(tmp_path / "l")
    assert "@" not in text


def test_plugin_descriptor_and_sources():
    text = infra.plugin_descriptor("9.5.3")
    p = _props(text)
    assert p["version"] == p["elasticsearch.version"] == "9.5.3"
    assert p["name"] == infra.PLUGIN_NAME
    assert p["classname"] == "org.hadath.analysis.HadathAnalysisPlugin"
    names = {src.name for src in infra.plugin_sources()}
    assert "HadathAnalysisPlugin.java" in names
    assert infra.plugin_fingerprint("9.5.3") == infra.plugin_fingerprint("9.5.3")
    assert infra.plugin_fingerprint("9.5.3") != infra.plugin_fingerprint("9.2.4")


def test_plugin_registers_stock_names_only_missing_from_the_server():
    src = (infra.PLUGIN_DIR / "src" / "org" / "hadath" / "analysis" / "HadathAnalysisPlugin.java").read_text()
    for name in ("mapping", "pattern_replace", "decimal_digit", "arabic_normalization",
                 "persian_normalization", "arabic_stem"):
        assert f'"{name}"' in src
    # the integ-test server already has these: registering them again breaks the node start
    for name in ("stop", "lowercase", "standard"):
        assert f'put("{name}"' not in src and f'singleton("{name}"' not in src


def test_render_refuses_unfilled_placeholders():
    assert infra.render("a=@A@", {"A": 1}) == "a=1"
    with pytest.raises(ValueError, match="@B@"):
        infra.render("a=@A@ b=@B@", {"A": 1})


def test_kafka_command(tmp_path):
    lay = infra.layout(_settings(tmp_path), infra.Versions(kafka="4.1.1", elasticsearch="9.5.3"))
    cmd = infra.kafka_command(Path("/jdk/bin/java"), lay)
    assert cmd[0] == "/jdk/bin/java"
    assert "-Xms512m" in cmd and "-Xmx1024m" in cmd
    assert any(c.startswith("-Dlog4j2.configurationFile=") for c in cmd)
    assert cmd[-2:] == ["kafka.Kafka", str(lay.kafka_config)]
    assert cmd[cmd.index("-cp") + 1] == str(lay.kafka_libs / "*")


# ---------------------------------------------------------------- java discovery


def test_java_version_from_release_file(tmp_path):
    (tmp_path / "release").write_text('IMPLEMENTOR="x"\nJAVA_VERSION="25.0.1"\n')
    assert infra.java_version(tmp_path) == 25
    (tmp_path / "release").write_text('JAVA_VERSION="17.0.15"\n')
    assert infra.java_version(tmp_path) == 17
    assert infra.java_version(tmp_path / "missing") is None


def test_find_jdk_names_what_to_install(monkeypatch):
    monkeypatch.setattr(infra, "java_home_candidates", lambda: [])
    with pytest.raises(RuntimeError, match="JDK 21\\+.*Maven"):
        infra.find_jdk(21, need_javac=True)


# ---------------------------------------------------------------- Kafka probe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kafka_metadata_nothing_listening():
    assert infra.kafka_metadata("127.0.0.1", _free_port(), timeout_seconds=1.0) is None


def test_kafka_metadata_parses_a_v4_response():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    seen = {}

    def serve():
        conn, _ = srv.accept()
        with conn:
            size = struct.unpack(">i", conn.recv(4))[0]
            req = b""
            while len(req) < size:
                req += conn.recv(size - len(req))
            api_key, version, corr = struct.unpack_from(">hhi", req, 0)
            seen.update(api_key=api_key, version=version)
            host = b"127.0.0.1"
            body = struct.pack(">ii", corr, 0)  # correlation id, throttle
            body += struct.pack(">i", 1) + struct.pack(">ih", 1, len(host)) + host + struct.pack(">ih", 9092, -1)
            body += struct.pack(">h", 4) + b"abcd" + struct.pack(">i", 1) + struct.pack(">i", 0)
            conn.sendall(struct.pack(">i", len(body)) + body)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        meta = infra.kafka_metadata("127.0.0.1", port, timeout_seconds=5.0)
    finally:
        t.join(5)
        srv.close()
    assert seen == {"api_key": 3, "version": 4}
    assert meta == {"brokers": 1, "cluster_id": "abcd", "controller_id": 1}


def test_kafka_metadata_rejects_a_non_kafka_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve():
        conn, _ = srv.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        assert infra.kafka_metadata("127.0.0.1", port, timeout_seconds=5.0) is None
    finally:
        t.join(5)
        srv.close()


def test_main_usage():
    assert infra.main(["bogus"]) == 2

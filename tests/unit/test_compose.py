"""Static checks of the Docker stack, the Kibana saved objects and the shipped sample articles.

No services needed: the compose file, ``.env``, ``infra/kibana/*.ndjson`` and
``hadath/samples/articles.jsonl`` are only parsed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import limits
from shared.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOTENV = ROOT / ".env"
KIBANA_NDJSON = ROOT / "infra" / "kibana" / "saved_objects.ndjson"
DOCKERFILE = ROOT / "infra" / "docker" / "Dockerfile"
SAMPLES = ROOT / "hadath" / "samples" / "articles.jsonl"

SERVICES = ("ingest", "normalize", "extract", "index")
VERSION_KEYS = ("KAFKA_VERSION", "ELASTICSEARCH_VERSION")
#: secrets: from the environment or an untracked env file, never from the tracked .env
SECRET_KEYS = ("ELASTIC_PASSWORD", "KIBANA_PASSWORD")
GITIGNORE = ROOT / ".gitignore"
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")


# --- helpers -----------------------------------------------------------------------------------

def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _dotenv() -> dict[str, str]:
    """``KEY=VALUE`` lines of ``.env`` (comments, blanks and ``export`` tolerated)."""
    values: dict[str, str] = {}
    for line in DOTENV.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[key.strip()] = value
    return values


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` substitution."""
    def repl(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"] or "", m["arg"]
        value = env.get(name)
        if op.endswith("-"):
            return value if value else arg
        if op.endswith("?"):
            assert value, f"{name} is required ({arg})"
            return value
        assert value is not None, f"{name} is not set"
        return value
    return _VAR.sub(repl, text.replace("$$", "\0")).replace("\0", "$")


def _variables(text: str) -> set[str]:
    return {m["name"] for m in _VAR.finditer(text.replace("$$", ""))}


def _env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command")
    return cmd.split() if isinstance(cmd, str) else list(cmd or [])


def _bindings(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(host_ip, host_port, container_port)`` of each published port ('' = not given)."""
    out = []
    for p in service.get("ports") or []:
        if isinstance(p, dict):
            out.append((str(p.get("host_ip", "")), str(p.get("published", "")), str(p["target"])))
            continue
        parts = str(p).split("/")[0].split(":")
        if len(parts) == 1:
            out.append(("", "", parts[0]))
        else:
            out.append((":".join(parts[:-2]), parts[-2], parts[-1]))
    return out


def _ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """``(host_port, container_port)`` of each published port ('' host port = none)."""
    return [(host, container) for _, host, container in _bindings(service)]


def _requires(value: str, name: str) -> bool:
    """Whether ``value`` is exactly ``${name:?...}`` (compose stops with that message when unset)."""
    m = _VAR.fullmatch(value.strip())
    return bool(m and m["name"] == name and m["op"] == ":?" and m["arg"].strip())


def _ndjson() -> list[dict[str, Any]]:
    return [json.loads(line) for line in KIBANA_NDJSON.read_text(encoding="utf-8").splitlines()
            if line.strip()]


# --- compose file ------------------------------------------------------------------------------

def test_compose_parses_and_has_the_stack() -> None:
    services = _compose()["services"]
    for name in ("kafka", "elasticsearch", "kibana", "kibana-setup", *SERVICES):
        assert name in services, name


def test_images_use_the_versions_of_dotenv() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert _variables(text) >= set(VERSION_KEYS)
    services = _compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:${KAFKA_VERSION")
    for name in ("elasticsearch", "kibana"):
        assert "${ELASTICSEARCH_VERSION" in services[name]["image"], name
    if not DOTENV.exists():
        pytest.skip(".env not written yet: versions cannot be compared")
    env = _dotenv()
    for key in VERSION_KEYS:
        assert re.fullmatch(r"\d+\.\d+\.\d+", env.get(key, "")), f".env {key}={env.get(key)!r}"
    resolved = yaml.safe_load(_interpolate(text, {**env, **{k: "x" for k in SECRET_KEYS}}))["services"]
    assert resolved["kafka"]["image"] == f"apache/kafka:{env['KAFKA_VERSION']}"
    es = env["ELASTICSEARCH_VERSION"]
    assert resolved["elasticsearch"]["image"] == f"docker.elastic.co/elasticsearch/elasticsearch:{es}"
    assert resolved["kibana"]["image"] == f"docker.elastic.co/kibana/kibana:{es}"
    # every variable the compose file uses is defined in .env (the one place), but the secrets,
    # which must not be there
    assert _variables(text) - set(SECRET_KEYS) <= set(env), _variables(text) - set(env) - set(SECRET_KEYS)
    assert not set(SECRET_KEYS) & set(env), "passwords do not belong in the tracked .env"


def test_infra_local_takes_its_versions_from_dotenv() -> None:
    """infra/local pins no other version: the pom's default and the plugin descriptor follow .env."""
    if not DOTENV.exists():
        pytest.skip(".env not written yet")
    env = _dotenv()
    checked = 0
    pom = ROOT / "infra" / "local" / "kafka" / "pom.xml"
    if pom.exists():
        m = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text(encoding="utf-8"))
        if m:
            assert m[1].strip() == env["KAFKA_VERSION"], "pom.xml kafka.version default != .env"
            checked += 1
    for desc in (ROOT / "infra" / "local").glob("**/plugin-descriptor.properties"):
        for line in desc.read_text(encoding="utf-8").splitlines():
            if line.startswith("elasticsearch.version="):
                value = line.split("=", 1)[1].strip()
                assert value in ("@ES_VERSION@", env["ELASTICSEARCH_VERSION"]), desc
                checked += 1
    if not checked:
        pytest.skip("infra/local has no version to compare yet")


def test_host_ports_published() -> None:
    services = _compose()["services"]
    published = {host for svc in services.values() for host, _ in _ports(svc)}
    assert {"9092", "9200", "5601"} <= published
    assert ("9200", "9200") in _ports(services["elasticsearch"])
    assert ("5601", "5601") in _ports(services["kibana"])


def test_every_published_port_binds_loopback_only() -> None:
    """Nothing listens beyond 127.0.0.1 unless a person configures it (ARCHITECTURE.md)."""
    for name, svc in _compose()["services"].items():
        for ip, host, container in _bindings(svc):
            assert ip == "127.0.0.1" and host, f"{name}: port {container} published on {ip or 'every address'}"


def test_kafka_two_listeners_single_node() -> None:
    env = _env_of(_compose()["services"]["kafka"])
    advertised = env["KAFKA_ADVERTISED_LISTENERS"]
    assert "kafka:9092" in advertised and "localhost:9092" in advertised
    assert env["KAFKA_PROCESS_ROLES"].replace(" ", "") in ("broker,controller", "controller,broker")
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    # the same as the local broker (shared.limits: 16 MiB with the default settings)
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) == limits.broker_max_message_bytes(Settings()) == 16 * 1024 * 1024
    assert int(env["KAFKA_REPLICA_FETCH_MAX_BYTES"]) >= int(env["KAFKA_MESSAGE_MAX_BYTES"])
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= Settings().max_message_bytes


def test_kafka_data_on_a_named_volume() -> None:
    compose = _compose()
    svc = compose["services"]["kafka"]
    log_dir = _env_of(svc)["KAFKA_LOG_DIRS"]
    mounts = [str(v).split(":") for v in svc.get("volumes") or []]
    named = [m[0] for m in mounts if len(m) >= 2 and m[1] == log_dir]
    assert named and named[0] in (compose.get("volumes") or {}), (log_dir, mounts)


def test_elasticsearch_single_node_with_security() -> None:
    svc = _compose()["services"]["elasticsearch"]
    env = _env_of(svc)
    assert env["discovery.type"] == "single-node"
    assert env["xpack.security.enabled"] == "true"
    assert _requires(env["ELASTIC_PASSWORD"], "ELASTIC_PASSWORD")
    assert "-Xms1g" in env["ES_JAVA_OPTS"] and "-Xmx1g" in env["ES_JAVA_OPTS"]
    health = " ".join(svc["healthcheck"]["test"])
    assert '-u "elastic:$$ELASTIC_PASSWORD"' in health  # the container's variable, not interpolated


def test_kibana_logs_in_as_kibana_system() -> None:
    services = _compose()["services"]
    kibana = services["kibana"]
    env = _env_of(kibana)
    assert env["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert _requires(env["ELASTICSEARCH_PASSWORD"], "KIBANA_PASSWORD")
    assert kibana["depends_on"]["es-setup"]["condition"] == "service_completed_successfully"
    setup = services["es-setup"]
    script = " ".join(_command(setup))
    assert "/_security/user/kibana_system/_password" in script and '-u "elastic:$$ELASTIC_PASSWORD"' in script
    setup_env = _env_of(setup)
    assert _requires(setup_env["ELASTIC_PASSWORD"], "ELASTIC_PASSWORD")
    assert _requires(setup_env["KIBANA_PASSWORD"], "KIBANA_PASSWORD")
    assert setup["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    assert '-u "elastic:$$ELASTIC_PASSWORD"' in " ".join(_command(services["kibana-setup"]))


def test_secrets_env_file_is_untracked() -> None:
    ignored = {line.strip() for line in GITIGNORE.read_text(encoding="utf-8").splitlines()}
    assert ".env.secrets" in ignored or "/.env.secrets" in ignored


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_its_module(name: str) -> None:
    svc = _compose()["services"][name]
    assert _command(svc) == ["python", "-m", f"services.{name}"]
    assert svc["build"]["dockerfile"] == "infra/docker/Dockerfile"
    assert svc["build"]["context"] == "."
    env = _env_of(svc)
    assert env[env_name("kafka_bootstrap")] == "kafka:9092"
    assert env[env_name("es_url")] == "http://elasticsearch:9200"
    assert _requires(env[env_name("es_password")], "ELASTIC_PASSWORD")
    depends = svc["depends_on"]
    assert isinstance(depends, dict) and depends["kafka"]["condition"] == "service_healthy"
    assert (ROOT / "services" / name).is_dir()


def test_web_serves_the_search_page_on_loopback() -> None:
    svc = _compose()["services"]["web"]
    assert _command(svc) == ["python", "-m", "services.web"]
    assert svc["build"]["dockerfile"] == "infra/docker/Dockerfile"
    env = _env_of(svc)
    assert env[env_name("es_url")] == "http://elasticsearch:9200"
    assert _requires(env[env_name("es_password")], "ELASTIC_PASSWORD")
    assert env[env_name("web_host")] == "0.0.0.0"  # inside the container; published on 127.0.0.1
    assert ("8080", env[env_name("web_port")]) in _ports(svc)
    assert svc["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    assert Settings().web_port == 8080 and Settings().web_host == "127.0.0.1"


def test_index_waits_for_elasticsearch() -> None:
    depends = _compose()["services"]["index"]["depends_on"]
    assert depends["elasticsearch"]["condition"] == "service_healthy"


def test_every_hadath_env_var_is_a_settings_field() -> None:
    known = {env_name(field) for field in Settings.model_fields}
    used = set()
    for svc in _compose()["services"].values():
        used |= {k for k in _env_of(svc) if k.startswith("HADATH_")}
    used |= set(re.findall(r"\bHADATH_[A-Z0-9_]+", DOCKERFILE.read_text(encoding="utf-8")))
    assert used, "no HADATH_* variable found"
    assert used <= known, sorted(used - known)


def test_extract_can_scale() -> None:
    svc = _compose()["services"]["extract"]
    assert "container_name" not in svc
    assert all(host == "" for host, _ in _ports(svc)), "extract must not bind a host port"


def test_kibana_setup_imports_the_saved_objects() -> None:
    svc = _compose()["services"]["kibana-setup"]
    script = " ".join(_command(svc)) + " " + " ".join(svc.get("entrypoint") or [])
    assert "/api/saved_objects/_import?overwrite=true" in script
    assert "kbn-xsrf: true" in script
    assert "saved_objects.ndjson" in script
    assert any("infra/kibana" in str(v) for v in svc.get("volumes") or [])
    assert svc["depends_on"]["kibana"]["condition"] in ("service_healthy", "service_started")


def test_dockerfile_installs_project_and_camel_tools_without_deps() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "pip install ." in text
    assert "pip install --no-deps camel-tools==1.6.0" in text


# --- Kibana saved objects ----------------------------------------------------------------------

def test_kibana_ndjson_lines_parse_and_data_view_matches_alias() -> None:
    objects = _ndjson()
    ids = [(o["type"], o["id"]) for o in objects]
    assert len(ids) == len(set(ids))
    views = {o["id"]: o["attributes"] for o in objects if o["type"] == "index-pattern"}
    assert views["hadath-articles"]["title"] == Settings().index_alias
    assert views["hadath-articles"]["timeFieldName"] == "published_at"
    assert views["hadath-events"]["title"] == Settings().events_alias
    assert views["hadath-events"]["timeFieldName"] == "last_published_at"
    assert len(views) == 2
    assert any(o["type"] == "search" for o in objects)
    assert sum(o["type"] in ("visualization", "lens") for o in objects) >= 4
    dashboard = next(o for o in objects if o["type"] == "dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    names = {r["name"] for r in dashboard["references"]}
    assert len(panels) >= 5 and {p["panelRefName"] for p in panels} == names
    assert "map" in {r["type"] for r in dashboard["references"]}
    for o in objects:
        for ref in o.get("references", []):
            assert (ref["type"], ref["id"]) in ids, (o["id"], ref)
        meta = o["attributes"].get("kibanaSavedObjectMeta", {})
        if "searchSourceJSON" in meta:
            json.loads(meta["searchSourceJSON"])
        if "visState" in o["attributes"]:
            json.loads(o["attributes"]["visState"])


def _mapped_fields(props: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for name, spec in props.items():
        out.add(prefix + name)
        out |= _mapped_fields(spec.get("properties", {}), f"{prefix}{name}.")
        out |= {f"{prefix}{name}.{sub}" for sub in spec.get("fields", {})}
    return out


def test_kibana_objects_use_mapped_fields() -> None:
    es = pytest.importorskip("shared.es")
    by_view = {"hadath-articles": _mapped_fields(es.mappings()["properties"]),
               "hadath-events": _mapped_fields(es.events_mappings()["properties"])}
    objects = _ndjson()
    fields = by_view["hadath-articles"]
    assert {o["attributes"]["timeFieldName"] for o in objects if o["id"] == "hadath-events"} <= by_view["hadath-events"]
    used: set[str] = set()
    for o in objects:
        if o["type"] == "index-pattern" and o["id"] != "hadath-articles":
            continue
        if o["type"] not in ("index-pattern", "dashboard"):
            # every object that reads data reads the articles data view
            assert {r["id"] for r in o["references"] if r["type"] == "index-pattern"} == {"hadath-articles"}, o["id"]
        attrs = o["attributes"]
        if "layerListJSON" in attrs:
            for layer in json.loads(attrs["layerListJSON"]):
                source = layer["sourceDescriptor"]
                if "geoField" in source:
                    used.add(source["geoField"])
                    assert any(r["name"] == source["indexPatternRefName"] for r in o["references"])
        used |= set(attrs.get("columns", []))
        used |= {s[0] for s in attrs.get("sort", [])}
        used.add(attrs.get("timeFieldName") or "published_at")
        if "visState" in attrs:
            for agg in json.loads(attrs["visState"]).get("aggs", []):
                if "field" in agg.get("params", {}):
                    used.add(agg["params"]["field"])
    assert used <= fields, sorted(used - fields)
    assert "places.location" in used and es.mappings()["properties"]["places"]["properties"]["location"]["type"] == "geo_point"


# --- sample articles ---------------------------------------------------------------------------

_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")


def test_sample_articles() -> None:
    lines = [line for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) >= 20
    articles = [json.loads(line) for line in lines]
    required = ("id", "source", "title", "body", "published_at", "url")
    for art in articles:
        for key in required:
            assert isinstance(art.get(key), str) and art[key].strip(), (art.get("id"), key)
        letters = [c for c in art["body"] if c.isalpha()]
        arabic = sum(bool(_ARABIC.match(c)) for c in letters)
        assert arabic / max(len(letters), 1) > 0.8, art["id"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)",
                            art["published_at"]), art["id"]
        assert art["url"].startswith("https://")
    assert len({a["id"] for a in articles}) == len(articles)
    assert len({a["source"] for a in articles}) >= 3


# --- metrics: Prometheus and Grafana -----------------------------------------------------------

def test_prometheus_scrapes_every_service_port_and_grafana_dashboard_parses() -> None:
    from shared.metrics import metrics_port

    services = _compose()["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["metrics"]
        assert all(ip == "127.0.0.1" for ip, _, _ in _bindings(services[name]))
    assert _env_of(services["index"])["HADATH_METRICS_HOST"] == "0.0.0.0"
    config = yaml.safe_load((ROOT / "infra" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {c["names"][0]: c["port"] for job in config["scrape_configs"] for c in job["dns_sd_configs"]}
    assert targets == {s: metrics_port(Settings(), s) for s in ("ingest", "normalize", "extract", "events", "index")}
    dash = json.loads((ROOT / "infra" / "grafana" / "dashboards" / "hadath.json").read_text(encoding="utf-8"))
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    for metric in ("hadath_messages_in_total", "hadath_messages_out_total", "hadath_messages_dead_lettered_total",
                   "hadath_batch_seconds_bucket", "hadath_consumer_lag_messages", "hadath_es_retries_total",
                   "hadath_es_rejections_total", "process_resident_memory_bytes"):
        assert metric in exprs, metric

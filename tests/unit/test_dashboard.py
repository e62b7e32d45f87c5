"""The Grafana dashboard and the Prometheus scrape config of ``infra/`` against the metrics the
services register (:class:`shared.metrics.StageMetrics`), without a server."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from shared.metrics import PORT_OFFSETS, StageMetrics
from shared.settings import Settings
from tests.dashboard import DASHBOARD, ROOT, SCRAPE_CONFIG, dashboard_exprs, exposed, missing, referenced


def _every_metric_used_once() -> str:
    """A /metrics page with one sample of every series a service registers (the default
    registry a service serves also has the process collector)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    m = StageMetrics(registry)
    m.count_in("index", 3)
    m.count_out("index", 3)
    m.count_dead_letter("index", "schema")
    m.batch_seconds.labels("index").observe(0.2)
    m.set_lag("index", "articles.clustered", 0, 5)
    m.es_retries.labels("index", "bulk item").inc()
    m.es_rejections.labels("index").inc()
    m.alerts_matched.labels("ports").inc()
    m.webhooks.labels("ok").inc()
    return generate_latest(registry).decode()


def test_the_dashboard_queries_only_series_and_labels_the_services_expose():
    wanted = referenced(dashboard_exprs())
    assert len(wanted) >= 10 and "hadath_batch_seconds_bucket" in wanted and wanted["hadath_es_retries_total"] == {
        "stage", "operation"}
    assert missing(wanted, exposed(_every_metric_used_once())) == []


def test_a_misspelt_series_or_label_is_caught():
    have = exposed(_every_metric_used_once())
    assert missing(referenced(["sum by (stage) (rate(hadath_mesages_in_total[1m]))"]), have) == [
        "hadath_mesages_in_total"]
    assert missing(referenced(["sum by (outlet) (rate(hadath_messages_in_total[1m]))"]), have) == [
        "hadath_messages_in_total{outlet}"]


def test_dashboard_datasource_and_job_match_the_provisioning_and_scrape_config():
    dashboard = json.loads(DASHBOARD.read_text())
    datasources = yaml.safe_load((ROOT / "infra/grafana/provisioning/datasources/prometheus.yml").read_text())
    uids = {d["uid"] for d in datasources["datasources"]}

    def panel_uids(node):
        if isinstance(node, dict):
            if isinstance(node.get("datasource"), dict):
                yield node["datasource"]["uid"]
            for v in node.values():
                yield from panel_uids(v)
        elif isinstance(node, list):
            for v in node:
                yield from panel_uids(v)

    assert set(panel_uids(dashboard)) == uids
    scrape = yaml.safe_load(SCRAPE_CONFIG.read_text())
    jobs = {j["job_name"]: j for j in scrape["scrape_configs"]}
    used_jobs = {job for e in dashboard_exprs() for job in re.findall(r'job="([^"]+)"', e)}
    assert used_jobs and used_jobs <= set(jobs)
    # each service is scraped on the port it serves in a container (base port + its offset)
    ports = {c["names"][0]: c["port"] for c in jobs["hadath"]["dns_sd_configs"]}
    base = Settings.model_fields["metrics_port"].default
    assert ports == {name: base + offset for name, offset in PORT_OFFSETS.items()}

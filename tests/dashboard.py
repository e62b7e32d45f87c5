"""What the shipped Grafana dashboard and Prometheus scrape config (``infra/``) ask of the
services' ``/metrics`` pages, for the tests that check the services really expose it."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "infra" / "grafana" / "dashboards" / "hadath.json"
SCRAPE_CONFIG = ROOT / "infra" / "prometheus" / "prometheus.yml"
#: Series names the services expose (ours, and prometheus-client's process collector).
_METRIC = re.compile(r"\b((?:hadath|process)_[a-z0-9_]+)\b")
_BY = re.compile(r"\bby\s*\(([^)]*)\)")
#: Suffixes a histogram's samples add to its family name.
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
#: Labels Prometheus adds at scrape time (``job``, ``instance``) or a histogram's ``le``.
SCRAPE_LABELS = frozenset({"job", "instance", "le"})


def dashboard_exprs(path: Path = DASHBOARD) -> list[str]:
    """Every PromQL ``expr`` of the dashboard's panels, in panel order."""
    exprs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    exprs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(path.read_text(encoding="utf-8")))
    return exprs


def referenced(exprs: list[str]) -> dict[str, set[str]]:
    """``{series name: labels the expression groups by}`` over ``exprs`` (labels of every
    ``by (…)`` of an expression are attributed to each series it names, the scrape labels of
    :data:`SCRAPE_LABELS` left out)."""
    out: dict[str, set[str]] = defaultdict(set)
    for expr in exprs:
        labels = {label.strip() for group in _BY.findall(expr) for label in group.split(",") if label.strip()}
        for name in _METRIC.findall(expr):
            out[name] |= labels - SCRAPE_LABELS
    return dict(out)


def exposed(*pages: str) -> dict[str, set[str]]:
    """``{series name: label names seen}`` over ``/metrics`` pages (Prometheus text format).
    A family declared without a sample yet (a labelled counter nothing incremented) is listed
    under its sample names (``<name>_total``, a histogram's ``_bucket``…) with no label."""
    out: dict[str, set[str]] = defaultdict(set)
    for page in pages:
        for family in text_string_to_metric_families(page):
            names = {"counter": [f"{family.name}_total"],
                     "histogram": [family.name + s for s in _HISTOGRAM_SUFFIXES]}.get(family.type, [family.name])
            for name in names:
                out.setdefault(name, set())
            for sample in family.samples:
                out[sample.name] |= set(sample.labels)
    return dict(out)


def missing(wanted: dict[str, set[str]], have: dict[str, set[str]]) -> list[str]:
    """What ``wanted`` (from :func:`referenced`) asks that ``have`` (from :func:`exposed`)
    lacks: ``"name"`` for a series not exposed, ``"name{label}"`` for a grouping label that the
    series' samples do not carry (judged only for a series with labelled samples: a labelled
    counter nothing incremented yet shows none). Empty when the dashboard is served."""
    out = [name for name in sorted(wanted) if name not in have]
    out += [f"{name}{{{label}}}" for name in sorted(wanted) if have.get(name)
            for label in sorted(wanted[name] - have[name])]
    return out

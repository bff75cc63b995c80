"""The Grafana dashboard (helm/dashboards/identity.json) queries only metrics the server exports, shows each of
them, and is importable: one Prometheus data source variable, unique panel ids, well-formed queries."""

from __future__ import annotations

import json
import re
from typing import Any

from identity import metrics
from tests.deploy.chart import DASHBOARD, ROOT

EXPORTED_METRICS = metrics.exported()  # what the code exports: the dashboard may use nothing else
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def _series_names() -> set[str]:
    """Every series name a query may use: counters and gauges as named, histograms by their three series."""
    names = set()
    for name, kind in EXPORTED_METRICS.items():
        if kind == "histogram":
            names.update(name + suffix for suffix in HISTOGRAM_SERIES)
        else:
            names.add(name)
    return names


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _queries() -> list[str]:
    """The PromQL of every panel target and of every query variable."""
    queries = [t["expr"] for p in _panels() for t in p["targets"]]
    queries += [v["query"]["query"] for v in _dashboard()["templating"]["list"] if v["type"] == "query"]
    return queries


def _metric_names(query: str) -> set[str]:
    return set(re.findall(r"\bidentity_[a-z0-9_]+\b", query))


def test_every_metric_the_dashboard_queries_is_exported_by_the_server() -> None:
    allowed = _series_names()
    for query in _queries():
        assert _metric_names(query), f"no identity metric in {query!r}"
        unknown = _metric_names(query) - allowed
        assert not unknown, f"{query!r} uses {unknown}, which the server does not export"


def test_every_exported_metric_is_on_the_dashboard() -> None:
    used = set().union(*map(_metric_names, _queries()))
    shown = {name for name in EXPORTED_METRICS if used & ({name} | {name + s for s in HISTOGRAM_SERIES})}
    assert shown == set(EXPORTED_METRICS)


def test_histograms_are_read_through_their_buckets_and_counters_through_rate_or_increase() -> None:
    for query in _queries():
        if query.startswith("label_values("):
            continue
        for name in _metric_names(query):
            family = next(m for m in (name, name.rsplit("_", 1)[0]) if m in EXPORTED_METRICS)
            kind = EXPORTED_METRICS[family]
            if kind == "histogram":
                assert name.endswith("_bucket") and "histogram_quantile(" in query, query
            if kind == "counter":
                assert re.search(rf"\b(rate|increase)\({name}\b", query), f"raw counter in {query!r}"


def test_queries_are_balanced_and_use_the_dashboards_variables() -> None:
    for query in _queries():
        for opening, closing in ("()", "{}", "[]"):
            assert query.count(opening) == query.count(closing), query
        assert query.count('"') % 2 == 0, query
    for panel in _panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert 'job=~"$job"' in target["expr"], target["expr"]


def test_the_dashboard_is_importable() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    titles = {p["title"] for p in _panels()}
    assert {"Request rate per route", "Latency p50 / p95 / p99", "Cache hit ratio"} <= titles
    for panel in _panels():
        assert panel["targets"], panel["title"]


def test_the_published_path_is_the_charts_dashboard() -> None:
    published = ROOT / "helm" / "dashboards" / "identity.json"
    assert published.read_text() == DASHBOARD.read_text()

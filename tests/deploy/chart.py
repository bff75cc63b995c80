"""The Helm chart in helm/identity, driven by Helm's own engine (helm_python: the Helm v4 SDK, no binary), and the
Kubernetes API schemas its manifests are checked against (kubernetes_validate)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml
from kubernetes_validate import utils as kubernetes_schemas

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "identity"
PRODUCTION = ROOT / "helm" / "examples" / "production.yaml"
# The Grafana dashboard; helm/dashboards/identity.json links to this copy, which the chart can ship (Helm reads
# only files inside the chart).
DASHBOARD = CHART / "dashboards" / "identity.json"
RELEASE, NAMESPACE = "identity", "identity"

# The Kubernetes minor versions the chart supports (Chart.yaml's kubeVersion starts at the oldest): the three
# newest that kubernetes-validate ships schemas for ("1.37", …). Its newer releases add versions; the range (and
# Chart.yaml's kubeVersion, which test_chart_lint holds to it) moves with them.
SUPPORTED_KUBERNETES = sorted(
    {kubernetes_schemas.major_minor(v) for v in kubernetes_schemas.all_versions()},
    key=lambda v: tuple(map(int, v.split("."))),
)[-3:]

# The smallest install: the three values with no safe default (README's `helm install` line gives them).
MINIMAL: dict[str, Any] = {
    "publicUrl": "https://id.example.com",
    "secrets": {
        "databaseUrl": "postgresql+psycopg://identity:pw@db.example.internal:5432/identity",
        "secretKey": "s" * 48,
    },
}

# Kinds defined by a CustomResourceDefinition: kubernetes-validate has only the built-in API's schemas.
CRD_KINDS = {"ServiceMonitor"}


def production_values() -> dict[str, Any]:
    return helm.values_from_yaml(PRODUCTION.read_text())


@contextmanager
def loaded() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as chart:
        yield chart


def render(values: dict[str, Any], *, upgrade: bool = False) -> list[dict[str, Any]]:
    """The manifests `helm install` (or `helm upgrade` to revision 2) would apply, hooks included, NOTES.txt not.

    The SDK's offline render, like Helm's engine, does not check values.schema.json; `helm install` and
    `helm template` check it first, and so does this.
    """
    with loaded() as chart:
        chart.validate_schema(values)
        if upgrade:
            files = chart.render(values, name=RELEASE, namespace=NAMESPACE, revision=2, is_upgrade=True)
        else:
            files = chart.render(values, name=RELEASE, namespace=NAMESPACE, revision=1, is_install=True)
    manifests = []
    for name, text in sorted(files.items()):
        if name.endswith("NOTES.txt"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def notes(values: dict[str, Any]) -> str:
    with loaded() as chart:
        files = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return next(text for name, text in files.items() if name.endswith("NOTES.txt"))


def only(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [m for m in manifests if m["kind"] == kind]
    return found


def kinds(manifests: list[dict[str, Any]]) -> set[str]:
    return {m["kind"] for m in manifests}


def server_container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = only(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}

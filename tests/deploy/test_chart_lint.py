"""`helm lint --strict` (warnings are errors) of helm/identity, for every supported Kubernetes version."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from tests.deploy.chart import CHART, MINIMAL, ROOT, SUPPORTED_KUBERNETES, loaded, production_values

WARNING = 2


def _problems(values: dict[str, Any], kube_version: str) -> list[dict[str, Any]]:
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{kube_version}.0")
    assert report["total_charts_linted"] == 1
    return [m for m in report["messages"] if m["severity"] >= WARNING] + [{"error": e} for e in report["errors"]]


@pytest.mark.parametrize("kube_version", SUPPORTED_KUBERNETES)
def test_lint_passes_strictly_with_the_minimal_values(kube_version: str) -> None:
    assert _problems(MINIMAL, kube_version) == []


@pytest.mark.parametrize("kube_version", SUPPORTED_KUBERNETES)
def test_lint_passes_strictly_with_the_production_example(kube_version: str) -> None:
    assert _problems(production_values(), kube_version) == []


def test_lint_reports_the_values_that_have_no_default_when_none_are_given() -> None:
    problems = _problems({}, SUPPORTED_KUBERNETES[-1])
    text = "\n".join(p["error"] for p in problems)
    assert "/publicUrl" in text
    assert "/secrets/secretKey" in text and "/secrets/databaseUrl" in text


def test_chart_metadata_matches_the_project() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    with loaded() as chart:
        metadata = chart.metadata
    assert metadata["apiVersion"] == "v2"
    assert metadata["appVersion"] == project["version"]
    # The chart claims exactly the range the render tests validate.
    assert metadata["kubeVersion"] == f">={SUPPORTED_KUBERNETES[0]}.0-0"


def test_the_packaged_chart_carries_the_schema_and_the_dashboard(tmp_path: Path) -> None:
    archive = helm.package(CHART, destination=tmp_path)
    assert Path(archive).name == "identity-0.1.0.tgz"
    with helm.Chart.load(archive) as packaged:
        assert packaged.schema is not None and packaged.schema["required"] == ["publicUrl", "image", "secrets"]
        assert "dashboards/identity.json" in {f["name"] for f in packaged.files}
        files = packaged.render({**MINIMAL, "dashboard": {"enabled": True}}, name="identity")
    assert '"uid": "identity-overview"' in files["identity/templates/dashboard-configmap.yaml"]

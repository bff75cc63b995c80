"""helm/identity rendered by Helm's engine for an install and for an upgrade, with the minimal values and with the
production example: every manifest valid against the Kubernetes API schemas (strict: unknown fields are errors)
of every supported version, and the properties a reviewer looks for in a production deployment."""

from __future__ import annotations

import base64
import copy
from typing import Any

import helm_python as helm
import pytest

from identity.settings import Settings
from tests.deploy.chart import (
    CRD_KINDS,
    DASHBOARD,
    MINIMAL,
    SUPPORTED_KUBERNETES,
    env_of,
    kinds,
    kubernetes_schemas,
    notes,
    only,
    production_values,
    render,
    server_container,
)

CASES = {
    "minimal-install": (lambda: MINIMAL, False),
    "minimal-upgrade": (lambda: MINIMAL, True),
    "production-install": (production_values, False),
    "production-upgrade": (production_values, True),
}


def _with(values: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """values with dotted keys replaced, e.g. _with(MINIMAL, **{"ingress.enabled": True})."""
    merged = copy.deepcopy(values)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = merged
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return merged


@pytest.mark.parametrize("kube_version", SUPPORTED_KUBERNETES)
@pytest.mark.parametrize("case", CASES)
def test_every_rendered_manifest_is_valid_for_every_supported_kubernetes_version(case: str, kube_version: str) -> None:
    values, upgrade = CASES[case]
    manifests = render(values(), upgrade=upgrade)
    assert {"Deployment", "Service", "ConfigMap", "Job", "PodDisruptionBudget", "ServiceAccount"} <= kinds(manifests)
    for manifest in manifests:
        if manifest["kind"] in CRD_KINDS:
            continue  # no schema for a CRD's kind in kubernetes-validate; test_service_monitor checks it
        kubernetes_schemas.validate(manifest, kube_version, strict=True)


def test_the_production_example_renders_every_optional_object() -> None:
    manifests = render(production_values())
    assert {"Ingress", "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor"} <= kinds(manifests)
    assert sum(m["kind"] == "ConfigMap" for m in manifests) == 2  # settings + the Grafana dashboard


def test_a_schema_violation_is_really_reported_by_the_validator() -> None:
    deployment = only(render(MINIMAL), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/readyz"
    with pytest.raises(kubernetes_schemas.ValidationError):
        kubernetes_schemas.validate(deployment, SUPPORTED_KUBERNETES[-1], strict=True)


def test_probes_use_healthz_for_liveness_and_startup_and_readyz_for_readiness() -> None:
    container = server_container(render(MINIMAL))
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8000, "metrics": 9464}
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_server_and_migration_pods_run_unprivileged_on_a_read_only_root(kind: str) -> None:
    pod = only(render(MINIMAL), kind)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    # The only writable place: /tmp, an emptyDir (TMPDIR points there).
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["name"] == "tmp" and "emptyDir" in pod["volumes"][0]
    assert env_of(container)["TMPDIR"] == "/tmp"


def test_shutdown_outlasts_the_pre_stop_pause_and_the_grace_period() -> None:
    values = _with(MINIMAL, **{"config.shutdownGraceSeconds": 40, "preStopSleepSeconds": 7})
    manifests = render(values)
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    assert server_container(manifests)["lifecycle"] == {"preStop": {"sleep": {"seconds": 7}}}
    assert only(manifests, "ConfigMap")["data"]["IDENTITY_SHUTDOWN_GRACE_SECONDS"] == "40"
    assert pod["terminationGracePeriodSeconds"] > 7 + 40


def test_pods_spread_over_zones_and_prefer_different_nodes() -> None:
    pod = only(render(MINIMAL), "Deployment")["spec"]["template"]["spec"]
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    (preferred,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in pod["affinity"]["podAntiAffinity"]


def test_the_config_map_carries_the_non_secret_settings_and_no_secret() -> None:
    manifests = render(_with(MINIMAL, **{"config.metricsTenants": ["acme", "globex"]}))
    data = only(manifests, "ConfigMap")["data"]
    assert data["IDENTITY_ENV"] == "prod"
    assert data["IDENTITY_PUBLIC_URL"] == "https://id.example.com"
    assert data["IDENTITY_LOG_JSON"] == "true"
    assert data["IDENTITY_METRICS_PORT"] == "9464"
    assert data["IDENTITY_METRICS_TENANTS"] == "acme,globex"
    assert data["IDENTITY_PASSWORD_HASH_CONCURRENCY"] == "2"
    assert not {"IDENTITY_DATABASE_URL", "IDENTITY_SECRET_KEY"} & set(data)
    assert MINIMAL["secrets"]["secretKey"] not in str(data)


class _ReadKeys(dict[str, str]):
    """An environment that remembers which variables were asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)


def test_every_setting_the_chart_gives_is_one_the_server_reads_and_accepts() -> None:
    # A misspelt or retired IDENTITY_* variable in the chart would be ignored without a word.
    manifests = render(_with(MINIMAL, **{"config.accessLog": True, "config.metricsTenants": ["acme"]}))
    data = dict(only(manifests, "ConfigMap")["data"])
    data.update(IDENTITY_DATABASE_URL="postgresql://db/identity", IDENTITY_SECRET_KEY="k" * 40)
    environ = _ReadKeys(data)
    settings = Settings.from_env(environ)  # validates what it read, as the server does at start
    given = {key for key in data if key.startswith("IDENTITY_")}
    assert given <= environ.asked, given - environ.asked
    assert settings.is_prod and settings.access_log and settings.metrics_port == 9464


def test_metrics_off_sets_the_port_to_zero_and_exposes_nothing() -> None:
    manifests = render(_with(MINIMAL, **{"metrics.enabled": False, "metrics.serviceMonitor.enabled": True}))
    assert only(manifests, "ConfigMap")["data"]["IDENTITY_METRICS_PORT"] == "0"
    assert [p["name"] for p in only(manifests, "Service")["spec"]["ports"]] == ["http"]
    assert "ServiceMonitor" not in kinds(manifests)


def test_without_existing_secret_the_chart_makes_one_as_a_hook_before_the_migration() -> None:
    manifests = render(MINIMAL)
    secret = only(manifests, "Secret")
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"database-url": MINIMAL["secrets"]["databaseUrl"], "secret-key": MINIMAL["secrets"]["secretKey"]}
    job = only(manifests, "Job")
    # The migration Job (a pre-install hook) runs before ordinary resources exist: the Secret must be a hook too,
    # created first (lower weight).
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == job["metadata"]["annotations"]["helm.sh/hook"]
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    env = env_of(server_container(manifests))
    assert env["IDENTITY_DATABASE_URL"] == {"secretKeyRef": {"name": "identity", "key": "database-url"}}


def test_an_existing_secret_is_referenced_by_name_and_keys_and_no_secret_is_rendered() -> None:
    values = {
        "publicUrl": "https://id.example.com",
        "secrets": {"existingSecret": "vault-identity", "databaseUrlKey": "DB", "secretKeyKey": "KEY"},
    }
    manifests = render(values)
    assert "Secret" not in kinds(manifests)
    expected = {
        "IDENTITY_DATABASE_URL": {"secretKeyRef": {"name": "vault-identity", "key": "DB"}},
        "IDENTITY_SECRET_KEY": {"secretKeyRef": {"name": "vault-identity", "key": "KEY"}},
    }
    for container in (server_container(manifests), only(manifests, "Job")["spec"]["template"]["spec"]["containers"][0]):
        env = env_of(container)
        assert {name: env[name] for name in expected} == expected
    annotations = only(manifests, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" not in annotations


def test_the_migration_job_is_a_pre_install_and_pre_upgrade_hook_running_identity_migrate() -> None:
    manifests = render(MINIMAL, upgrade=True)
    job = only(manifests, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == server_container(manifests)["image"] == "identity-platform:0.1.0"
    assert container["args"] == ["migrate", "--json"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # No ConfigMap exists yet when a pre-install hook runs: the settings are inlined.
    env = env_of(container)
    assert env["IDENTITY_ENV"] == "prod" and env["IDENTITY_PUBLIC_URL"] == "https://id.example.com"
    assert "envFrom" not in container


def test_a_settings_change_rolls_the_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        deployment = only(render(values), "Deployment")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum(MINIMAL) == checksum(copy.deepcopy(MINIMAL))
    assert checksum(MINIMAL) != checksum(_with(MINIMAL, **{"config.passwordHashConcurrency": 3}))


def test_ingress_routes_the_http_port_with_tls() -> None:
    manifests = render(production_values())
    ingress = only(manifests, "Ingress")
    assert ingress["spec"]["tls"] == [{"secretName": "identity-tls", "hosts": ["id.example.com"]}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "id.example.com"  # publicUrl's host
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/" and path["pathType"] == "Prefix"
    assert path["backend"]["service"] == {"name": "identity", "port": {"name": "http"}}


def test_hpa_replaces_the_fixed_replica_count() -> None:
    manifests = render(production_values())
    assert "replicas" not in only(manifests, "Deployment")["spec"]
    hpa = only(manifests, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "identity"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert only(render(MINIMAL), "Deployment")["spec"]["replicas"] == 2


def test_pdb_selects_exactly_the_server_pods() -> None:
    manifests = render(MINIMAL)
    pdb = only(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    pod_labels = only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    job_labels = only(manifests, "Job")["spec"]["template"]["metadata"]["labels"]
    assert not pdb["spec"]["selector"]["matchLabels"].items() <= job_labels.items()


def test_network_policy_opens_http_to_the_given_peers_metrics_to_monitoring_and_the_needed_egress() -> None:
    policy = only(render(production_values()), "NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    http, metrics = policy["ingress"]
    assert http["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert http["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    assert metrics["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    egress_ports = [(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]]
    assert egress_ports == [(53, "UDP"), (53, "TCP"), (5432, "TCP"), (443, "TCP")]
    database = policy["egress"][1]
    assert database["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]


def test_service_monitor_scrapes_the_metrics_port_of_this_release() -> None:
    manifests = render(production_values())
    monitor = only(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    service = only(manifests, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert "metrics" in [p["name"] for p in service["spec"]["ports"]]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["identity"]}


def test_the_dashboard_config_map_ships_the_dashboard_for_the_grafana_sidecar() -> None:
    manifests = render(production_values())
    (dashboard,) = [m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["data"]["identity.json"] == DASHBOARD.read_text().rstrip("\n")
    assert not any(m["metadata"]["name"].endswith("-dashboard") for m in render(MINIMAL))


def test_the_service_account_mounts_no_token() -> None:
    account = only(render(MINIMAL), "ServiceAccount")
    assert account["automountServiceAccountToken"] is False


def test_notes_tell_how_to_reach_the_issuers() -> None:
    text = notes(MINIMAL)
    assert "https://id.example.com/t/<tenant>" in text
    assert "port-forward svc/identity" in text


BAD_VALUES = {
    "replicas below one": (_with(MINIMAL, replicaCount=0), "/replicaCount"),
    "no public URL": ({"secrets": MINIMAL["secrets"]}, "/publicUrl"),
    "plain http public URL": (_with(MINIMAL, publicUrl="http://id.example.com"), "/publicUrl"),
    "empty image tag": (_with(MINIMAL, **{"image.tag": ""}), "/image/tag"),
    "short secret key": (_with(MINIMAL, **{"secrets.secretKey": "short"}), "/secrets/secretKey"),
    "SQLite database": (_with(MINIMAL, **{"secrets.databaseUrl": "sqlite:///identity.db"}), "/secrets/databaseUrl"),
    "existing secret and a value": (_with(MINIMAL, **{"secrets.existingSecret": "mine"}), "/secrets/databaseUrl"),
    "misspelt key": (_with(MINIMAL, replicas=3), "replicas"),
    "metrics on the HTTP port": (_with(MINIMAL, **{"metrics.port": 8000}), "/metrics/port"),
    "secret in the ConfigMap": (_with(MINIMAL, **{"config.extra": {"SECRET_KEY": "x" * 40}}), "SECRET_KEY"),
    "bad tenant slug": (_with(MINIMAL, **{"config.metricsTenants": ["Acme Corp"]}), "/config/metricsTenants/0"),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_the_values_schema_refuses_bad_values_with_a_message_naming_the_value(case: str) -> None:
    values, where = BAD_VALUES[case]
    with pytest.raises(helm.HelmValuesError) as refused:
        render(values)
    assert where in str(refused.value)


def test_an_hpa_with_min_above_max_is_refused_at_render() -> None:
    values = _with(MINIMAL, autoscaling={"enabled": True, "minReplicas": 5, "maxReplicas": 3})
    with pytest.raises(helm.HelmRenderError) as refused:
        render(values)
    assert "minReplicas must not exceed autoscaling.maxReplicas" in str(refused.value)

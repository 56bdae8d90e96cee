"""deploy/kubernetes: renders, validates against the Kubernetes schemas and checkov, and agrees with the services.

The base and the example overlay (which includes both components) are rendered by tests/deploy/kustomize.py;
`kubectl kustomize`, where installed, must render the same.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic_settings import BaseSettings

from intake.config_api.settings import ConfigApiSettings
from intake.fetcher.settings import FetcherSettings
from intake.fetcher.supervisor import RENEWALS_PER_LEASE
from intake.ingestor.settings import IngestorSettings
from intake.shared.probe_listener import probe_app
from intake.shared.probes import Readiness
from intake.shared.topology import INGESTOR_QUEUE
from tests.deploy import kustomize
from tests.deploy.tools import REPO, run, tool

KUBERNETES = REPO / "deploy" / "kubernetes"
BUILDS = {"base": KUBERNETES / "base", "example": KUBERNETES / "overlays" / "example"}

# Each Deployment's container, its settings class, and the settings naming its probe listener.
SERVICES: dict[str, tuple[type[BaseSettings], str, str]] = {
    "intake-config-api": (ConfigApiSettings, "api_host", "api_port"),
    "intake-fetcher": (FetcherSettings, "fetcher_http_host", "fetcher_http_port"),
    "intake-ingestor": (IngestorSettings, "ingestor_http_host", "ingestor_http_port"),
}
# Only these leave the pod (NetworkPolicy `intake-egress`), besides the fetcher's calls to config-api.
ALLOWED_EGRESS = {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 5671), ("TCP", 5672), ("TCP", 993), ("TCP", 143)}
ALLOWED_EGRESS |= {("TCP", 443)}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: kustomize.build(folder) for name, folder in BUILDS.items()}


def of_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {resource["metadata"]["name"]: resource for resource in resources if resource["kind"] == kind}


def written(resources: list[dict[str, Any]], folder: Path, name: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(resources, sort_keys=False))
    return path


def env_name(settings: type[BaseSettings], field: str) -> str:
    return "INTAKE_" + field.upper()


def container_env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {entry["name"]: entry for entry in container.get("env", [])}


def test_the_renderer_agrees_with_kubectl_kustomize(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the Python renderer is checked against it where it is")
    for name, folder in BUILDS.items():
        result = run(kubectl, "kustomize", folder)
        assert result.returncode == 0, result.stderr
        theirs = {kustomize.identity(resource): resource for resource in yaml.safe_load_all(result.stdout)}
        ours = {kustomize.identity(resource): resource for resource in rendered[name]}
        assert ours == theirs, name


def test_every_rendered_manifest_is_valid_kubernetes(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """kubernetes-validate ships the Kubernetes schemas (offline); it has none for the KEDA and Prometheus
    Operator CRDs, which the next tests check by hand for what they rely on."""
    validate = tool("validators/bin/kubernetes-validate")
    for name, resources in rendered.items():
        for version in ("1.29.0", "1.37.0"):
            path = written(resources, tmp_path, name)
            result = run(validate, "--strict", "--quiet", "--kubernetes-version", version, path)
            assert result.returncode == 0, f"{name} on {version}:\n{result.stdout}{result.stderr}"
            unchecked = [line for line in result.stdout.splitlines() if "Couldn't find schema" in line]
            assert all("ScaledObject" in line or "ServiceMonitor" in line for line in unchecked), unchecked


def test_the_example_passes_checkov(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """No failed check; the skipped ones carry their reason in the Deployments' `checkov.io/skip` annotations."""
    checkov = tool("checkov/bin/checkov")
    path = written(rendered["example"], tmp_path, "example")
    result = run(
        checkov, "--file", path.name, "--framework", "kubernetes", "--skip-download", "--compact", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout, result.stdout


def test_probes_ports_and_env_names_match_the_settings(rendered: dict[str, list[dict[str, Any]]]) -> None:
    resources = rendered["example"]
    deployments = of_kind(resources, "Deployment")
    services = of_kind(resources, "Service")
    assert set(deployments) == set(SERVICES)
    for name, (settings, host_field, port_field) in SERVICES.items():
        fields = settings.model_fields
        assert host_field in fields, f"{settings.__name__} has no {host_field}"
        assert port_field in fields, f"{settings.__name__} has no {port_field}"
        env = container_env(deployments[name])
        known = {env_name(settings, field) for field in fields}
        assert set(env) <= known, f"{name}: {sorted(set(env) - known)} are not settings of {settings.__name__}"
        required = {env_name(settings, field) for field, info in fields.items() if info.is_required()}
        assert required <= set(env), f"{name} lacks required {sorted(required - set(env))}"
        assert env[env_name(settings, host_field)]["value"] == "0.0.0.0"
        port = int(env[env_name(settings, port_field)]["value"])
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert services[name]["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
        for entry in env.values():
            if "valueFrom" in entry:
                assert entry["valueFrom"]["secretKeyRef"]["name"] == "intake-secrets"


def test_images_and_users_are_the_ones_the_dockerfiles_and_compose_use(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name, deployment in of_kind(rendered["base"], "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        image = container["image"].split(":")[0]
        assert image == name
        service = name.removeprefix("intake-")
        dockerfile = (REPO / "deploy" / "docker" / f"{service}.Dockerfile").read_text()
        assert f"{name} image" in dockerfile
        if "image" in compose[service]:
            assert compose[service]["image"].split(":")[0] == image
        numeric_user = re.search(r"^USER (\d+)", dockerfile, re.MULTILINE)
        if numeric_user:
            assert pod["securityContext"]["runAsUser"] == int(numeric_user.group(1))


def test_every_pod_meets_the_restricted_profile(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, deployment in of_kind(rendered["example"], "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        (container,) = pod["containers"]
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
        assert "emptyDir" in volumes["tmp"], name
        assert set(container["resources"]["requests"]) == set(container["resources"]["limits"]) == {"cpu", "memory"}
        spread = pod["topologySpreadConstraints"]
        assert {constraint["topologyKey"] for constraint in spread} >= {"kubernetes.io/hostname"}, name
    (namespace,) = of_kind(rendered["example"], "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_a_stopping_fetcher_has_time_to_release_its_leases(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """On SIGTERM the fetcher logs every inbox out (one IMAP timeout), then releases and announces its leases
    (a third of the lease each): the grace period must outlast that, or the leases only expire later."""
    fetcher = of_kind(rendered["example"], "Deployment")["intake-fetcher"]
    env = container_env(fetcher)
    fields = FetcherSettings.model_fields

    def setting(field: str) -> float:
        entry = env.get(env_name(FetcherSettings, field))
        return float(entry["value"]) if entry else float(fields[field].default)

    lease, imap_timeout = setting("fetcher_lease_seconds"), setting("fetcher_imap_timeout_seconds")
    release = imap_timeout + 2 * lease / RENEWALS_PER_LEASE
    assert fetcher["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > release
    (budget,) = of_kind(rendered["example"], "PodDisruptionBudget").values()
    assert budget["spec"]["selector"]["matchLabels"] == fetcher["spec"]["selector"]["matchLabels"]


def test_network_policy_lets_out_only_dns_databases_imap_and_https(rendered: dict[str, list[dict[str, Any]]]) -> None:
    policies = of_kind(rendered["example"], "NetworkPolicy")
    egress = policies["intake-egress"]
    assert egress["spec"]["policyTypes"] == ["Egress"]
    assert egress["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/part-of": "intake"}
    open_ports = set()
    for rule in egress["spec"]["egress"]:
        ports = {(port["protocol"], port["port"]) for port in rule["ports"]}
        if "to" in rule:  # in-namespace: the fetcher's OAuth2 access-token calls to config-api only
            assert rule["to"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "intake-config-api"}}}]
            assert ports == {("TCP", 8080)}
        else:
            open_ports |= ports
    assert open_ports == ALLOWED_EGRESS
    for name in ("intake-config-api-ingress", "intake-workers-ingress"):
        assert policies[name]["spec"]["policyTypes"] == ["Ingress"]


def test_the_scaled_object_scales_ingestors_on_their_queue(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """KEDA's CRD schema is not available offline: check what the scaling relies on."""
    scaled = of_kind(rendered["example"], "ScaledObject")["intake-ingestor"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    target = of_kind(rendered["example"], "Deployment")[scaled["spec"]["scaleTargetRef"]["name"]]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == INGESTOR_QUEUE
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert int(trigger["metadata"]["value"]) > 0
    assert trigger["metadata"]["hostFromEnv"] in container_env(target)
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]


def test_the_service_monitor_scrapes_every_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The Prometheus Operator's CRD schema is not available offline: check what scraping relies on."""
    monitor = of_kind(rendered["example"], "ServiceMonitor")["intake"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = of_kind(rendered["example"], "Service")
    selected = {name for name, service in services.items() if selector.items() <= service["metadata"]["labels"].items()}
    assert selected == set(SERVICES)
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert all(endpoint["port"] in {port["name"] for port in services[name]["spec"]["ports"]} for name in selected)


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(kustomize.UnsupportedKustomization, match="commonLabels"):
        kustomize.build(tmp_path)


async def test_the_probe_paths_are_ones_the_services_serve(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """config-api's from its OpenAPI document; the fetcher's and ingestor's from their probe listener's app."""
    paths = {
        probe["httpGet"]["path"]
        for deployment in of_kind(rendered["example"], "Deployment").values()
        for container in deployment["spec"]["template"]["spec"]["containers"]
        for probe in (container["livenessProbe"], container["readinessProbe"], container["startupProbe"])
    }
    assert paths == {"/healthz", "/readyz"}
    assert paths <= set(json.loads((REPO / "docs" / "openapi.json").read_text())["paths"])

    async def ready() -> Readiness:
        return Readiness({"database": "ok", "broker": "ok"})

    app = probe_app(CollectorRegistry(), ready)
    for path, status in [*((path, 200) for path in paths), ("/elsewhere", 404)]:
        sent: list[dict[str, Any]] = []

        async def send(message: Any, into: list[dict[str, Any]] = sent) -> None:
            into.append(message)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        await app({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send)
        assert sent[0]["status"] == status, path

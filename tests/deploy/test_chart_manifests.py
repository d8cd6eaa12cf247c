"""The chart renders valid Kubernetes objects: the five services and what belongs to each."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from kubernetes_validate import utils as kubernetes_validate

from tests.deploy.chart import KUBERNETES_VERSIONS, RELEASE, SERVICES, Rendered, component

pytestmark = pytest.mark.deploy

# kubernetes-validate re-reads a 1.8 MB definitions file for every object; read each file once.
kubernetes_validate.schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.schema_contents)

# Custom resources Kubernetes has no schema for; their shape is checked below instead.
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("keda.sh/v1alpha1", "ScaledObject"),
}


def problems(rendered: Rendered, version: str) -> list[str]:
    found = []
    for manifest in rendered.manifests:
        if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_KINDS:
            continue
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            found.append(f"{where}: {'.'.join(map(str, error.path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            found.append(f"{where}: {error.message}")
    return found


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_is_valid_kubernetes_in_strict_mode(any_render: Rendered, version: str) -> None:
    assert problems(any_render, version) == []


def test_the_validation_rejects_an_unknown_field(default_render: Rendered) -> None:
    broken = Rendered([dict(m) for m in default_render.manifests])
    deployment = next(m for m in broken.manifests if m["kind"] == "Deployment")
    deployment["spec"] = {**deployment["spec"], "replica": 3}
    assert any("replica" in problem for problem in problems(broken, KUBERNETES_VERSIONS[-1]))


def test_the_default_values_deploy_five_services_each_with_its_objects(default_render: Rendered) -> None:
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"):
        names = default_render.names(kind)
        for service in SERVICES:
            assert f"{RELEASE}-valetkey-{component(service)}" in names, (kind, service)
    assert default_render.kinds().count("Deployment") == 5


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_its_own_command_from_the_one_image(default_render: Rendered, service: str) -> None:
    container = default_render.container(service)
    assert container["args"] == ["run", service]
    assert container["image"] == "ghcr.io/valetkey/valetkey:0.1.0"


def test_the_optional_objects_are_off_by_default(default_render: Rendered) -> None:
    kinds = set(default_render.kinds())
    assert not kinds & {"Ingress", "ServiceMonitor", "PrometheusRule", "ScaledObject"}
    assert default_render.names("ConfigMap") == [f"{RELEASE}-valetkey-config"]


def test_the_engine_configuration_is_mounted_verbatim_with_oidc_verification(
    default_render: Rendered,
) -> None:
    config = default_render.one("ConfigMap", f"{RELEASE}-valetkey-config")["data"]["engine.yaml"]
    assert "mode: oidc" in config
    assert "${env:VALETKEY_OIDC_CLIENT_SECRET}" in config
    assert "mode: builtin" not in config


def test_a_config_change_rolls_the_pods(chart: Path, default_render: Rendered) -> None:
    changed = Rendered.of(chart, "--set-string=engineConfig=api: null")
    for service in SERVICES:
        before = default_render.deployment(service)["spec"]["template"]["metadata"]["annotations"]
        after = changed.deployment(service)["spec"]["template"]["metadata"]["annotations"]
        assert before["checksum/config"] != after["checksum/config"]


def test_the_custom_resources_have_the_fields_their_operators_need(options_render: Rendered) -> None:
    deployments = set(options_render.names("Deployment"))
    (monitor,) = options_render.of_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"http", "ops"}
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "valetkey",
        "app.kubernetes.io/instance": RELEASE,
    }
    (rule,) = options_render.of_kind("PrometheusRule")
    assert rule["spec"]["groups"] and all(g["rules"] for g in rule["spec"]["groups"])
    for scaled in options_render.of_kind("ScaledObject"):
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"
        assert scaled["spec"]["scaleTargetRef"]["name"] in deployments
        assert {t["type"] for t in scaled["spec"]["triggers"]} == {"cpu", "prometheus"}


def test_the_service_monitor_keeps_the_webhook_metrics_endpoint_label(options_render: Rendered) -> None:
    (monitor,) = options_render.of_kind("ServiceMonitor")
    for endpoint in monitor["spec"]["endpoints"]:
        assert {"action": "labeldrop", "regex": "endpoint"} in endpoint["relabelings"]


def test_every_service_s_metrics_port_is_behind_a_service_the_monitor_selects(
    options_render: Rendered,
) -> None:
    (monitor,) = options_render.of_kind("ServiceMonitor")
    ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    for service in SERVICES:
        svc = options_render.for_service("Service", service)
        labels = svc["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
        assert {p["name"] for p in svc["spec"]["ports"]} & ports, service


def test_the_ingress_routes_the_api_and_pages_but_not_metrics_or_probes(options_render: Rendered) -> None:
    (ingress,) = options_render.of_kind("Ingress")
    paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == ["/v1", "/oauth", "/openapi.json"]
    backends = {
        p["backend"]["service"]["name"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]
    }
    assert backends == {f"{RELEASE}-valetkey-gateway"}
    assert ingress["spec"]["tls"][0]["secretName"] == "valetkey-tls"


def test_a_service_switched_off_leaves_nothing_behind(chart: Path) -> None:
    rendered = Rendered.of(chart, "--set=services.webhooks.enabled=false")
    assert not [m for m in rendered.manifests if "webhooks" in m["metadata"]["name"]]
    assert rendered.kinds().count("Deployment") == 4
    redis = rendered.one("NetworkPolicy", f"{RELEASE}-valetkey-redis")
    (clients,) = redis["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"]
    assert clients["values"] == ["authorizer", "token-refresher", "executor"]

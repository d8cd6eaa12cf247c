"""Each service scales on its own and survives voluntary disruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.chart import SERVICES, Rendered, selects

pytestmark = pytest.mark.deploy


def pod_labels(rendered: Rendered, service: str) -> dict[str, str]:
    labels: dict[str, str] = rendered.deployment(service)["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("render", ["default", "production"])
def test_each_service_has_a_cpu_autoscaler_on_its_own_deployment(rendered, render: str) -> None:
    for service in SERVICES:
        hpa = rendered[render].for_service("HorizontalPodAutoscaler", service)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": rendered[render].deployment(service)["metadata"]["name"],
        }
        cpu = next(m for m in hpa["spec"]["metrics"] if m["type"] == "Resource")
        assert cpu["resource"]["name"] == "cpu"
        assert cpu["resource"]["target"]["type"] == "Utilization"
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        # The HPA owns the replica count: a Deployment that set it would be reset on every upgrade.
        assert "replicas" not in rendered[render].deployment(service)["spec"]


def test_one_service_s_autoscaler_switches_off_alone(chart: Path) -> None:
    rendered = Rendered.of(chart, "--set=services.webhooks.autoscaling.enabled=false")
    assert "vk-valetkey-webhooks" not in rendered.names("HorizontalPodAutoscaler")
    assert len(rendered.of_kind("HorizontalPodAutoscaler")) == 4
    assert rendered.deployment("webhooks")["spec"]["replicas"] == 2


def test_keda_replaces_the_hpa_of_the_refresher_and_the_webhooks_with_their_lag(
    options_render: Rendered,
) -> None:
    for service, metric in (
        ("token_refresher", "valetkey_refresh_schedule_lag_seconds"),
        ("webhooks", "valetkey_webhook_queue_depth"),
    ):
        scaled = options_render.for_service("ScaledObject", service)
        prometheus = next(t for t in scaled["spec"]["triggers"] if t["type"] == "prometheus")
        assert metric in prometheus["metadata"]["query"]
        assert 'namespace="valetkey"' in prometheus["metadata"]["query"]
        assert f"vk-valetkey-{service.replace('_', '-')}" not in options_render.names(
            "HorizontalPodAutoscaler"
        )
        assert "replicas" not in options_render.deployment(service)["spec"]
    assert len(options_render.of_kind("HorizontalPodAutoscaler")) == 3


def test_extra_hpa_metrics_are_appended_to_cpu(chart: Path, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        "services:\n"
        "  token_refresher:\n"
        "    autoscaling:\n"
        "      metrics:\n"
        "        - type: External\n"
        "          external:\n"
        "            metric: {name: valetkey_refresh_schedule_lag_seconds}\n"
        "            target: {type: Value, value: '30'}\n"
    )
    hpa = Rendered.of(chart, "--values", str(values)).for_service(
        "HorizontalPodAutoscaler", "token_refresher"
    )
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource", "External"]


@pytest.mark.parametrize("render", ["default", "production"])
def test_each_service_has_a_disruption_budget_that_selects_its_pods_only(rendered, render: str) -> None:
    for service in SERVICES:
        budget = rendered[render].for_service("PodDisruptionBudget", service)
        assert budget["spec"]["maxUnavailable"] == 1
        for other in SERVICES:
            assert selects(budget["spec"]["selector"], pod_labels(rendered[render], other)) == (
                other == service
            )


def test_each_deployment_selects_its_own_pods_and_its_service_routes_to_them(any_render: Rendered) -> None:
    for service in SERVICES:
        deployment = any_render.deployment(service)
        assert selects(deployment["spec"]["selector"], pod_labels(any_render, service))
        routed = any_render.for_service("Service", service)["spec"]["selector"]
        for other in SERVICES:
            assert selects({"matchLabels": routed}, pod_labels(any_render, other)) == (other == service)


def test_pods_spread_over_nodes_and_drain_before_they_stop(any_render: Rendered) -> None:
    for service in SERVICES:
        pod = any_render.deployment(service)["spec"]["template"]["spec"]
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["topologyKey"] == "kubernetes.io/hostname"
        assert selects(spread["labelSelector"], pod_labels(any_render, service))
        (container,) = pod["containers"]
        assert container["lifecycle"]["preStop"]["sleep"]["seconds"] < pod["terminationGracePeriodSeconds"]

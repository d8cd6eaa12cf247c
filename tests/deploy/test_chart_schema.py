"""values.schema.json refuses what an operator may mistype, and the chart refuses what cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.chart import Rendered, helm, render_failure

pytestmark = pytest.mark.deploy


@pytest.mark.parametrize(
    ("option", "complaint"),
    [
        ("--set=natsURL=nats://x:4222", "natsURL"),
        ("--set=services.gatway.replicas=3", "gatway"),
        ("--set=services.gateway.replica=3", "replica"),
        ("--set=default.autoscaling.enable=true", "enable"),
        ("--set=default.autoscaling.keda.treshold=5", "treshold"),
        ("--set=default.natsAuth.secret=x", "secret"),
        ("--set=networkPolicy.gatewayfrom=null", "gatewayfrom"),
        ("--set=metrics.serviceMonitor.enabeld=true", "enabeld"),
        ("--set=keys.root.secret=x", "secret"),
        ("--set=ingress.path=/v1", "path"),
    ],
)
def test_a_misspelt_key_is_refused_by_name(chart: Path, option: str, complaint: str) -> None:
    said = render_failure(chart, option)
    assert "Additional property " + complaint + " is not allowed" in said


@pytest.mark.parametrize(
    "option",
    [
        "--set=probes.mode=tcp",
        "--set=natsUrl=http://nats:4222",
        "--set=redisUrl=memcached://x",
        "--set=jetstreamReplicas=2",
        "--set=opsPort=9099",
        "--set=default.autoscaling.targetCPUUtilizationPercentage=0",
        "--set=image.pullPolicy=Sometimes",
        "--set-string=default.replicas=two",
        "--set=otel.endpoint=grpc://collector:4317",
    ],
)
def test_a_value_of_the_wrong_form_is_refused(chart: Path, option: str) -> None:
    assert "values don't meet the specifications of the schema" in render_failure(chart, option)


@pytest.mark.parametrize(
    "variable", ["VALETKEY_ROOT_KEY", "VALETKEY_NATS_PASSWORD", "REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"]
)
def test_a_service_cannot_be_handed_a_variable_the_chart_sets_from_its_role(
    chart: Path, variable: str
) -> None:
    said = render_failure(chart, f"--set=services.gateway.env.{variable}=x")
    assert f'services.gateway.env: Property name of "{variable}" does not match' in said
    said = render_failure(
        chart,
        f"--set=services.gateway.secretEnv.{variable}.secretName=s",
        f"--set=services.gateway.secretEnv.{variable}.key=k",
    )
    assert f'services.gateway.secretEnv: Property name of "{variable}" does not match' in said


def test_a_service_may_be_handed_a_provider_s_secret(chart: Path) -> None:
    rendered = Rendered.of(
        chart,
        "--set=services.authorizer.secretEnv.GOOGLE_CLIENT_SECRET.secretName=google",
        "--set=services.authorizer.secretEnv.GOOGLE_CLIENT_SECRET.key=client-secret",
    )
    assert rendered.env("authorizer")["GOOGLE_CLIENT_SECRET"] == {
        "secretKeyRef": {"name": "google", "key": "client-secret"}
    }
    assert "GOOGLE_CLIENT_SECRET" not in rendered.env("executor")


def test_a_secret_env_entry_needs_a_secret_and_a_key(chart: Path) -> None:
    said = render_failure(chart, "--set=services.authorizer.secretEnv.GOOGLE_CLIENT_SECRET.secretName=google")
    assert "key is required" in said


def test_keda_without_a_query_is_refused_with_its_service_named(chart: Path) -> None:
    said = render_failure(chart, "--set=services.executor.autoscaling.keda.enabled=true")
    assert "services.executor.autoscaling.keda: set query and threshold" in said


def test_more_minimum_than_maximum_replicas_is_refused(chart: Path) -> None:
    said = render_failure(chart, "--set=services.gateway.autoscaling.minReplicas=12")
    assert "services.gateway.autoscaling: minReplicas 12 is above maxReplicas 10" in said


def test_a_nats_ca_with_a_plain_seed_is_refused(chart: Path) -> None:
    said = render_failure(chart, "--set=natsCA.secretName=ca", "--set=natsUrl=tls://a:4222\\,nats://b:4222")
    assert 'the NATS seed "nats://b:4222" is not tls://' in said


def test_helm_lint_passes_both_value_files_and_fails_a_typo(chart: Path) -> None:
    for values in ("values.yaml", "values-production.yaml"):
        result = helm("lint", str(chart), "--strict", "--values", str(chart / values))
        assert result.returncode == 0, result.stdout + result.stderr
    typo = helm("lint", str(chart), "--set=services.gateway.replica=3")
    assert typo.returncode != 0
    assert "replica is not allowed" in typo.stdout + typo.stderr

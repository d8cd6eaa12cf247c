"""The chart rendered once per set of values for the whole session (each render is one Helm run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.chart import PRODUCTION_VALUES, Rendered, copy_chart

# Every optional part switched on, over the default values.
ALL_OPTIONS = (
    "--set=probes.mode=exec",
    "--set=ingress.enabled=true",
    "--set=ingress.tlsSecretName=valetkey-tls",
    "--set=services.token_refresher.autoscaling.keda.enabled=true",
    "--set=services.webhooks.autoscaling.keda.enabled=true",
    "--set=metrics.serviceMonitor.enabled=true",
    "--set=metrics.prometheusRule.enabled=true",
    "--set=metrics.grafanaDashboard.enabled=true",
    "--set=services.authorizer.natsAuth.secretName=valetkey-authorizer-nats",
    "--set=services.authorizer.natsAuth.credsKey=nats.creds",
    "--set=otel.endpoint=http://otel-collector.monitoring:4318",
)
SUBCHARTS_OFF = ("--set=nats.enabled=false", "--set=redis.enabled=false")

RENDERS = {
    "default": (),
    "production": ("--values", str(PRODUCTION_VALUES)),
    "subcharts-off": SUBCHARTS_OFF,
    "all-options": ALL_OPTIONS,
}


@pytest.fixture(scope="session")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_chart(tmp_path_factory.mktemp("chart"))


class Renders(dict[str, Rendered]):
    """Each named render, made on first use."""

    def __init__(self, chart: Path) -> None:
        super().__init__()
        self.chart = chart

    def __missing__(self, name: str) -> Rendered:
        self[name] = Rendered.of(self.chart, *RENDERS[name])
        return self[name]


@pytest.fixture(scope="session")
def rendered(chart: Path) -> Renders:
    return Renders(chart)


@pytest.fixture(params=sorted(RENDERS))
def any_render(request: pytest.FixtureRequest, rendered: dict[str, Rendered]) -> Rendered:
    """Each of the renders in turn: properties every one of them must have."""
    return rendered[request.param]


@pytest.fixture
def default_render(rendered: dict[str, Rendered]) -> Rendered:
    return rendered["default"]


@pytest.fixture
def production_render(rendered: dict[str, Rendered]) -> Rendered:
    return rendered["production"]


@pytest.fixture
def options_render(rendered: dict[str, Rendered]) -> Rendered:
    return rendered["all-options"]

"""Rendering the chart with the real Helm binary, and reading what it rendered.

The chart is rendered from a copy of ``deploy/`` (its ``files/`` links point into ``deploy/``)
with stand-ins for the NATS and Redis subcharts in ``charts/``: they cannot be downloaded here,
and Helm refuses to render a chart whose dependencies are missing, even switched off.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.helm_binary import HELM_PATH

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "valetkey"
PRODUCTION_VALUES = CHART / "values-production.yaml"
STAND_INS = Path(__file__).with_name("stand_in_charts")

RELEASE = "vk"
NAMESPACE = "valetkey"
SERVICES = ("gateway", "authorizer", "token_refresher", "executor", "webhooks")
# The chart's kubeVersion floor and the newest Kubernetes kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

Manifest = dict[str, Any]


def component(service: str) -> str:
    return service.replace("_", "-")


def copy_chart(destination: Path) -> Path:
    """``deploy/`` copied with its links, plus the subchart stand-ins; returns the chart's path."""
    shutil.copytree(DEPLOY, destination / "deploy", symlinks=True)
    chart = destination / "deploy" / "helm" / "valetkey"
    shutil.copytree(STAND_INS, chart / "charts")
    return chart


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    if not HELM_PATH.exists():
        raise AssertionError(f"no Helm at {HELM_PATH}: run `make helm` (make test does)")
    return subprocess.run([str(HELM_PATH), *args], capture_output=True, text=True, timeout=120, check=False)


def template_args(chart: Path, *options: str) -> list[str]:
    return [
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBERNETES_VERSIONS[-1],
        *options,
    ]


@dataclass(frozen=True)
class Rendered:
    """Every manifest of one ``helm template`` run."""

    manifests: list[Manifest]

    @classmethod
    def of(cls, chart: Path, *options: str) -> Rendered:
        result = helm(*template_args(chart, *options))
        assert result.returncode == 0, f"helm template {' '.join(options)} failed:\n{result.stderr}"
        return cls([doc for doc in yaml.safe_load_all(result.stdout) if doc])

    def kinds(self) -> list[str]:
        return sorted(m["kind"] for m in self.manifests)

    def of_kind(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m["kind"] == kind]

    def one(self, kind: str, name: str) -> Manifest:
        found = [m for m in self.of_kind(kind) if m["metadata"]["name"] == name]
        assert len(found) == 1, f"{len(found)} {kind} named {name} in {self.names(kind)}"
        return found[0]

    def names(self, kind: str) -> list[str]:
        return [m["metadata"]["name"] for m in self.of_kind(kind)]

    def for_service(self, kind: str, service: str) -> Manifest:
        return self.one(kind, f"{RELEASE}-valetkey-{component(service)}")

    def deployment(self, service: str) -> Manifest:
        return self.for_service("Deployment", service)

    def container(self, service: str) -> Manifest:
        (container,) = self.deployment(service)["spec"]["template"]["spec"]["containers"]
        return container

    def env(self, service: str) -> dict[str, Any]:
        """Name → the env entry's value, or its valueFrom."""
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in self.container(service)["env"]}


def render_failure(chart: Path, *options: str) -> str:
    """``helm template`` that must fail; returns what it said."""
    result = helm(*template_args(chart, *options))
    assert result.returncode != 0, f"helm template {' '.join(options)} rendered:\n{result.stdout[:2000]}"
    return result.stderr


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions) selects these labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        present = expression["key"] in labels
        value = labels.get(expression["key"])
        match expression["operator"]:
            case "In":
                ok = value in expression["values"]
            case "NotIn":
                ok = value not in expression["values"]
            case "Exists":
                ok = present
            case "DoesNotExist":
                ok = not present
        if not ok:
            return False
    return True

"""The dashboard and the alert rules speak only the metrics of the contract in deploy/README.md."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import promql_parser
import pytest
import yaml

from tests.deploy.chart import CHART, DEPLOY, Rendered

pytestmark = pytest.mark.deploy

DASHBOARD = DEPLOY / "grafana" / "valetkey.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
# Labels Prometheus puts on every scraped series, besides the metric's own.
TARGET_LABELS = {"namespace", "pod", "job", "instance", "service", "container"}


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    labels: dict[str, frozenset[str] | None]  # label → its only values, or None for an open set


def read_contract() -> dict[str, Metric]:
    """The table under "Metrics: the contract" in deploy/README.md."""
    text = (DEPLOY / "README.md").read_text()
    section = text.split("## Metrics: the contract", 1)[1].split("\n## ", 1)[0]
    metrics = {}
    for row in re.findall(r"^\| `(valetkey_\w+)` \| (\w+) \|([^|]*)\|", section, re.M):
        name, kind, label_cell = row
        labels: dict[str, frozenset[str] | None] = {}
        for label in re.findall(r"`([^`]+)`", label_cell):
            key, _, values = label.partition("=")
            labels[key] = frozenset(values.split("/")) if values else None
        metrics[name] = Metric(name, kind, labels)
    return metrics


CONTRACT = read_contract()


def test_the_contract_lists_the_planned_metrics() -> None:
    assert len(CONTRACT) == 25
    assert CONTRACT["valetkey_webhook_deliveries_total"].labels == {
        "endpoint": None,
        "outcome": frozenset({"delivered", "retrying", "dead_lettered"}),
    }
    assert CONTRACT["valetkey_refresh_lateness_seconds"].type == "histogram"
    for metric in CONTRACT.values():
        assert metric.type in {"counter", "gauge", "histogram"}
        assert metric.name.endswith("_total") == (metric.type == "counter"), metric.name
        assert not {"user", "user_id", "token"} & metric.labels.keys()


def series_of(name: str) -> Metric | None:
    """The contract's metric a series name belongs to (a histogram's _bucket, _sum, _count too)."""
    if name in CONTRACT:
        return CONTRACT[name]
    base, _, suffix = name.rpartition("_")
    metric = CONTRACT.get(base)
    if metric and metric.type == "histogram" and suffix in {"bucket", "sum", "count"}:
        return metric
    return None


def mistakes(expression: str) -> list[str]:
    """What in one PromQL expression is not in the contract: unknown metrics, labels, label values."""
    found: list[str] = []
    selected: list[Metric] = []
    grouping: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            metric = series_of(node.name or "")
            if metric is None:
                found.append(f"unknown metric {node.name!r}")
                return
            selected.append(metric)
            for matcher in node.matchers.matchers:
                allowed = (
                    metric.labels.keys() | TARGET_LABELS | ({"le"} if metric.type == "histogram" else set())
                )
                if matcher.name not in allowed:
                    found.append(f"{metric.name} has no label {matcher.name!r}")
                values = metric.labels.get(matcher.name)
                exact = matcher.op in (promql_parser.MatchOp.Equal, promql_parser.MatchOp.NotEqual)
                if values is not None and exact and matcher.value not in values:
                    found.append(f"{metric.name}{{{matcher.name}}} has no value {matcher.value!r}")
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier and node.modifier.matching:
            grouping.update(node.modifier.matching.labels)

    promql_parser.walk(promql_parser.parse(expression), visit)
    if not selected:
        found.append("selects no valetkey metric")
    known = set().union(*(m.labels.keys() for m in selected)) | TARGET_LABELS | {"le"}
    found += [f"groups by unknown label {label!r}" for label in sorted(grouping - known)]
    return found


def test_the_check_finds_unknown_metrics_labels_and_values() -> None:
    assert mistakes('sum by (provider) (rate(valetkey_refreshes_total{outcome="failed"}[5m]))') == []
    assert mistakes("rate(valetkey_refresh_total[5m])") == [
        "unknown metric 'valetkey_refresh_total'",
        "selects no valetkey metric",
    ]
    assert mistakes('rate(valetkey_refreshes_total{outcom="failed"}[5m])') == [
        "valetkey_refreshes_total has no label 'outcom'"
    ]
    assert mistakes('rate(valetkey_refreshes_total{outcome="fail"}[5m])') == [
        "valetkey_refreshes_total{outcome} has no value 'fail'"
    ]
    assert mistakes("sum by (tool) (valetkey_outbox_depth)") == ["groups by unknown label 'tool'"]
    assert "unknown metric 'valetkey_outbox_depth_bucket'" in mistakes(
        "rate(valetkey_outbox_depth_bucket[5m])"
    )
    with pytest.raises(ValueError, match="parenthesis"):
        mistakes("rate(valetkey_outbox_depth[5m]")


GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$namespace": "valetkey"}


def dashboard_expressions(dashboard: dict[str, Any]) -> dict[str, str]:
    """Panel title → each target's PromQL, with Grafana's variables filled in."""
    expressions = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expression = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expression = expression.replace(variable, value)
            expressions[f"{panel['title']} / {target['refId']}"] = expression
    return expressions


def test_the_dashboard_queries_only_contract_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = dashboard_expressions(dashboard)
    assert len(expressions) >= 20
    assert {title: mistakes(e) for title, e in expressions.items() if mistakes(e)} == {}


def test_the_dashboard_shows_every_contract_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used: set[str] = set()
    for expression in dashboard_expressions(dashboard).values():
        promql_parser.walk(
            promql_parser.parse(expression),
            lambda node: (
                used.add(series_of(node.name).name)  # type: ignore[union-attr]
                if isinstance(node, promql_parser.VectorSelector)
                else None
            ),
        )
    assert set(CONTRACT) - used == set()


def test_the_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] == "valetkey"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    namespaces = re.fullmatch(r"label_values\((\w+), namespace\)", variables["namespace"]["query"]["query"])
    assert namespaces and namespaces[1] in CONTRACT
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert 'namespace=~"$namespace"' in " ".join(t["expr"] for t in panel["targets"]), panel["title"]


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_queries_only_contract_metrics_and_says_what_is_wrong() -> None:
    rules = alert_rules()
    assert {rule["alert"]: mistakes(rule["expr"]) for rule in rules if mistakes(rule["expr"])} == {}
    for rule in rules:
        assert re.fullmatch(r"Valetkey[A-Z]\w+", rule["alert"])
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]


def test_the_alerts_cover_lateness_reauthorization_dead_letters_and_outbox_lag() -> None:
    watched = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    assert "valetkey_refresh_lateness_seconds_bucket" in watched["ValetkeyRefreshesLate"]
    assert 'class="reauthorize"' in watched["ValetkeyReauthorizationSpike"]
    assert 'outcome="dead_lettered"' in watched["ValetkeyWebhookDeadLetters"]
    assert "valetkey_outbox_relay_lag_seconds" in watched["ValetkeyOutboxLagging"]


def test_the_readme_lists_every_alert() -> None:
    readme = (DEPLOY / "README.md").read_text()
    assert sorted(re.findall(r"^\| `(Valetkey\w+)` \|", readme, re.M)) == sorted(
        r["alert"] for r in alert_rules()
    )


def test_the_chart_ships_the_same_alerts_and_dashboard(options_render: Rendered) -> None:
    (rule,) = options_render.of_kind("PrometheusRule")
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())
    dashboard = options_render.one("ConfigMap", "vk-valetkey-dashboard")
    assert json.loads(dashboard["data"]["valetkey.json"]) == json.loads(DASHBOARD.read_text())
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert (CHART / "files" / "alerts.yaml").resolve() == ALERTS.resolve()


def test_the_keda_queries_use_contract_metrics() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for service in ("token_refresher", "webhooks"):
        query = values["services"][service]["autoscaling"]["keda"]["query"]
        assert mistakes(query.replace("{{ .Release.Namespace }}", "valetkey")) == []

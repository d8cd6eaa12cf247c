"""Only the gateway is reachable from outside; NATS and Redis only from the valetkey services."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tests.deploy.chart import RELEASE, SERVICES, Rendered, selects

pytestmark = pytest.mark.deploy

INTERNET_CALLERS = {"authorizer", "token_refresher", "executor", "webhooks"}
REDIS_USERS = {"authorizer", "token_refresher", "executor", "webhooks"}
MONITORING = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


def policies_for(rendered: Rendered, labels: dict[str, str]) -> list[dict[str, Any]]:
    return [p for p in rendered.of_kind("NetworkPolicy") if selects(p["spec"]["podSelector"], labels)]


def the_policy(rendered: Rendered, service: str) -> dict[str, Any]:
    labels = rendered.deployment(service)["spec"]["template"]["metadata"]["labels"]
    (policy,) = policies_for(rendered, labels)
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    return policy["spec"]


def ports(rule: dict[str, Any]) -> set[Any]:
    return {p["port"] for p in rule.get("ports", [])}


def test_every_valetkey_pod_is_under_exactly_one_ingress_and_egress_policy(any_render: Rendered) -> None:
    for service in SERVICES:
        the_policy(any_render, service)


def test_only_the_gateway_admits_callers_besides_the_scrapers(default_render: Rendered) -> None:
    for service in SERVICES:
        ingress = the_policy(default_render, service)["ingress"]
        scrapes = [rule for rule in ingress if rule.get("from") == [MONITORING]]
        callers = [rule for rule in ingress if rule not in scrapes]
        if service == "gateway":
            (api,) = callers
            assert ports(api) == {"http"}
        else:
            assert callers == []
            (scrape,) = scrapes
            assert ports(scrape) == {"ops"}


def test_production_admits_gateway_callers_only_from_the_ingress_and_agent_namespaces(
    production_render: Rendered,
) -> None:
    ingress = the_policy(production_render, "gateway")["ingress"]
    api = next(rule for rule in ingress if rule.get("from") != [MONITORING])
    assert [peer["namespaceSelector"]["matchLabels"] for peer in api["from"]] == [
        {"kubernetes.io/metadata.name": "ingress-nginx"},
        {"valetkey.example.com/agents": "true"},
    ]


def internet_blocks(egress: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [peer["ipBlock"] for rule in egress for peer in rule.get("to", []) if "ipBlock" in peer]


@pytest.mark.parametrize("render", ["default", "production"])
def test_only_the_services_that_call_out_reach_the_internet_and_never_private_or_metadata_ranges(
    rendered, render: str
) -> None:
    for service in SERVICES:
        blocks = internet_blocks(the_policy(rendered[render], service)["egress"])
        if service not in INTERNET_CALLERS:
            assert blocks == []
            continue
        assert {b["cidr"] for b in blocks} == {"0.0.0.0/0", "::/0"}
        excluded = [ipaddress.ip_network(cidr) for b in blocks for cidr in b["except"]]
        for address in ("169.254.169.254", "10.1.2.3", "172.20.0.1", "192.168.1.1", "127.0.0.1", "fd00::1"):
            assert any(ipaddress.ip_address(address) in network for network in excluded), (service, address)


@pytest.mark.parametrize("render", ["default", "production"])
def test_egress_to_redis_only_for_the_services_that_use_it(rendered, render: str) -> None:
    for service in SERVICES:
        egress = the_policy(rendered[render], service)["egress"]
        assert any(ports(rule) == {53} for rule in egress), service
        assert any(ports(rule) == {4222} for rule in egress), service
        assert any(ports(rule) == {6379} for rule in egress) == (service in REDIS_USERS), service


def test_production_egress_to_nats_and_redis_goes_only_to_their_namespaces(
    production_render: Rendered,
) -> None:
    egress = the_policy(production_render, "executor")["egress"]
    nats = next(rule for rule in egress if ports(rule) == {4222})
    redis = next(rule for rule in egress if ports(rule) == {6379})
    assert nats["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "messaging"}
    assert redis["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "data"}


def dependency_pod(name: str) -> dict[str, str]:
    """The labels the NATS and Bitnami Redis charts put on their server pods."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": RELEASE}


def valetkey_pod(rendered: Rendered, service: str) -> dict[str, str]:
    labels: dict[str, str] = rendered.deployment(service)["spec"]["template"]["metadata"]["labels"]
    return labels


def admitted(policy: dict[str, Any], labels: dict[str, str], port: int) -> bool:
    """Whether a pod with these labels, in the release's namespace, may connect to ``port``.

    A rule without ``ports`` admits every port, one without ``from`` every peer; a peer with a
    ``namespaceSelector`` is taken to mean other namespaces (the scrapers').
    """
    for rule in policy["ingress"]:
        if rule.get("ports") and port not in ports(rule):
            continue
        if "from" not in rule:
            return True
        if any(
            "podSelector" in p and "namespaceSelector" not in p and selects(p["podSelector"], labels)
            for p in rule["from"]
        ):
            return True
    return False


def test_the_subcharts_nats_admits_clients_only_from_the_valetkey_pods(default_render: Rendered) -> None:
    (policy,) = policies_for(default_render, dependency_pod("nats"))
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    for service in SERVICES:
        assert admitted(spec, valetkey_pod(default_render, service), 4222), service
    assert not admitted(
        spec, {"app.kubernetes.io/name": "my-app", "app.kubernetes.io/instance": RELEASE}, 4222
    )
    assert not admitted(
        spec, {"app.kubernetes.io/name": "valetkey", "app.kubernetes.io/instance": "other"}, 4222
    )
    assert admitted(spec, dependency_pod("nats"), 6222)  # cluster routes


def test_the_subcharts_redis_admits_only_the_services_that_use_it(default_render: Rendered) -> None:
    (policy,) = policies_for(default_render, dependency_pod("redis"))
    for service in SERVICES:
        assert admitted(policy["spec"], valetkey_pod(default_render, service), 6379) == (
            service in REDIS_USERS
        )
    assert not admitted(policy["spec"], {"app": "anything"}, 6379)
    assert admitted(policy["spec"], dependency_pod("redis"), 6379)  # replication


def test_without_the_subcharts_there_is_no_policy_for_them(rendered) -> None:
    for render in ("subcharts-off", "production"):
        assert policies_for(rendered[render], dependency_pod("nats")) == []
        assert policies_for(rendered[render], dependency_pod("redis")) == []


def test_the_policies_can_be_switched_off(chart) -> None:
    assert Rendered.of(chart, "--set=networkPolicy.enabled=false").of_kind("NetworkPolicy") == []


def test_traces_reach_the_collector_only_when_its_endpoint_is_set(
    default_render: Rendered, options_render: Rendered
) -> None:
    for service in SERVICES:
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in default_render.env(service)
        assert all(4318 not in ports(rule) for rule in the_policy(default_render, service)["egress"])
        endpoint = options_render.env(service)["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert endpoint == "http://otel-collector.monitoring:4318"
        assert any(ports(rule) == {4318} for rule in the_policy(options_render, service)["egress"])

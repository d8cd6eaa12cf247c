"""Every pod runs locked down, and each service receives only the secrets its role needs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.chart import DEPLOY, SERVICES, Rendered

pytestmark = pytest.mark.deploy

IMAGE_UID = int(re.search(r"^USER (\d+)", (DEPLOY / "Dockerfile").read_text(), re.M)[1])  # type: ignore[index]


def pods(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in rendered.of_kind("Deployment")]


def test_every_pod_runs_as_the_image_s_non_root_user_under_runtime_default_seccomp(
    any_render: Rendered,
) -> None:
    for name, pod in pods(any_render):
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] == IMAGE_UID != 0, name
        assert context["runAsGroup"] == IMAGE_UID, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & pod.keys(), name


def test_every_container_is_read_only_unprivileged_and_without_capabilities(any_render: Rendered) -> None:
    for name, pod in pods(any_render):
        for container in pod.get("initContainers", []) + pod["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context.get("privileged", False) is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name


def test_every_container_has_a_writable_tmp_and_nothing_else_writable(any_render: Rendered) -> None:
    for name, pod in pods(any_render):
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        writable = [m for m in container["volumeMounts"] if not m.get("readOnly")]
        assert [m["mountPath"] for m in writable] == ["/tmp"], name
        assert "emptyDir" in volumes[writable[0]["name"]], name


def test_every_container_requests_cpu_and_memory_and_has_a_memory_limit(any_render: Rendered) -> None:
    for name, pod in pods(any_render):
        for container in pod["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), name
            assert "memory" in resources["limits"], name


def test_the_uid_can_be_left_to_the_platform_but_root_stays_refused(chart) -> None:
    rendered = Rendered.of(
        chart,
        "--set=podSecurity.runAsUser=null",
        "--set=podSecurity.runAsGroup=null",
        "--set=podSecurity.fsGroup=null",
    )
    for name, pod in pods(rendered):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert "runAsUser" not in pod["securityContext"], name


@pytest.mark.parametrize("render", ["default", "production"])
def test_probes_are_http_on_livez_and_readyz_of_each_service_s_own_port(rendered, render: str) -> None:
    for service in SERVICES:
        container = rendered[render].container(service)
        port = "http" if service == "gateway" else "ops"
        assert port in {p["name"] for p in container["ports"]}
        assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": port}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert "exec" not in container["livenessProbe"]


def test_the_exec_probe_fallback_pings_each_service_over_nats(options_render: Rendered) -> None:
    for service in SERVICES:
        container = options_render.container(service)
        command = ["python", "-m", "tools.launcher.probe", service]
        assert container["livenessProbe"]["exec"]["command"] == command
        assert container["readinessProbe"]["exec"]["command"] == command
        assert "startupProbe" not in container


def test_the_ops_port_is_announced_to_every_service_but_the_gateway(default_render: Rendered) -> None:
    for service in SERVICES:
        env = default_render.env(service)
        if service == "gateway":
            assert "VALETKEY_OPS_PORT" not in env
        else:
            assert env["VALETKEY_OPS_PORT"] == "9464"


KEYS = {
    "gateway": {"VALETKEY_API_KEY", "VALETKEY_BUS_KEY"},
    "authorizer": {"VALETKEY_BUS_KEY", "VALETKEY_ROOT_KEY", "VALETKEY_OIDC_CLIENT_SECRET"},
    "token_refresher": {"VALETKEY_BUS_KEY", "VALETKEY_ROOT_KEY"},
    "executor": {"VALETKEY_BUS_KEY", "VALETKEY_ROOT_KEY"},
    "webhooks": {"VALETKEY_BUS_KEY", "VALETKEY_WEBHOOK_KEY"},
}
ALL_KEYS = set().union(*KEYS.values())


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_receives_exactly_the_keys_of_its_role(any_render: Rendered, service: str) -> None:
    env = any_render.env(service)
    assert env.keys() & ALL_KEYS == KEYS[service]
    for name in KEYS[service]:
        assert set(env[name]) == {"secretKeyRef"}, name


def test_the_internet_facing_gateway_never_holds_the_root_key_nor_a_redis_client(
    any_render: Rendered,
) -> None:
    env = any_render.env("gateway")
    assert "VALETKEY_ROOT_KEY" not in env
    assert "REDIS_URL" not in env and "VALETKEY_REDIS_PASSWORD" not in env
    assert "VALETKEY_ROOT_KEY" not in str(any_render.deployment("gateway"))


def test_no_secret_is_written_into_a_manifest(any_render: Rendered) -> None:
    secretish = re.compile(r"(KEY|PASSWORD|SECRET)$")
    for service in SERVICES:
        for name, value in any_render.env(service).items():
            if secretish.search(name):
                assert isinstance(value, dict) and "secretKeyRef" in value, (service, name)
    assert not any_render.of_kind("Secret")


def test_production_gives_each_service_its_own_bus_and_redis_user(production_render: Rendered) -> None:
    bus_secrets, redis_secrets = set(), set()
    for service in SERVICES:
        env = production_render.env(service)
        if "VALETKEY_NATS_CREDS" in env:
            volume = next(
                v
                for v in production_render.deployment(service)["spec"]["template"]["spec"]["volumes"]
                if v["name"] == "nats-creds"
            )
            bus_secrets.add(volume["secret"]["secretName"])
            assert env["VALETKEY_NATS_CREDS"] == "/etc/valetkey/nats/creds/nats.creds"
        else:
            user, password = env["VALETKEY_NATS_USER"], env["VALETKEY_NATS_PASSWORD"]
            assert user["secretKeyRef"]["name"] == password["secretKeyRef"]["name"]
            bus_secrets.add(user["secretKeyRef"]["name"])
        if service != "gateway":
            redis_secrets.add(env["VALETKEY_REDIS_PASSWORD"]["secretKeyRef"]["name"])
    assert len(bus_secrets) == 5
    assert len(redis_secrets) == 4


def mounted_file(rendered: Rendered, service: str, path: str) -> dict[str, Any]:
    """The Secret volume that puts a file at ``path`` in the service's container."""
    pod = rendered.deployment(service)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for mount in container["volumeMounts"]:
        if path.startswith(mount["mountPath"] + "/"):
            volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
            file = path.removeprefix(mount["mountPath"] + "/")
            assert [item["path"] for item in volume["secret"]["items"]] == [file]
            return volume["secret"]
    raise AssertionError(f"{path} is not mounted in {service}")


def test_production_talks_tls_to_a_nats_cluster_and_a_redis_cluster(production_render: Rendered) -> None:
    for service in SERVICES:
        env = production_render.env(service)
        seeds = env["NATS_URL"].split(",")
        assert len(seeds) == 3 and all(seed.startswith("tls://") for seed in seeds)
        assert env["VALETKEY_JS_REPLICAS"] == "3"
        assert (
            mounted_file(production_render, service, env["VALETKEY_NATS_CA"])["secretName"]
            == "valetkey-nats-ca"
        )
        if service != "gateway":
            assert env["REDIS_URL"].startswith("rediss+cluster://")
            assert env["VALETKEY_REDIS_SHARDS"] == "16"
            ca = mounted_file(production_render, service, env["VALETKEY_REDIS_CA"])
            assert ca["secretName"] == "valetkey-redis-ca"


def test_production_verifies_users_with_oidc(production_render: Rendered) -> None:
    config = production_render.one("ConfigMap", "vk-valetkey-config")["data"]["engine.yaml"]
    assert re.search(r"verification:\s+mode: oidc", config)
    assert production_render.env("authorizer")["VALETKEY_OIDC_CLIENT_SECRET"]["secretKeyRef"] == {
        "name": "valetkey-oidc",
        "key": "client-secret",
    }
    for service in SERVICES:
        assert production_render.env(service)["VALETKEY_OIDC_ISSUER"].startswith("https://")

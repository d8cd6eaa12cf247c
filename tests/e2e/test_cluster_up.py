"""`valetkey cluster-up` as an operator meets it: one command starts a three-node NATS cluster, a
Valkey Cluster of three primaries with a replica each, and two replicas of every service behind two
gateways; a killed replica comes back; `cluster-down` stops everything.

Real processes throughout, on free loopback ports (the ``VALETKEY_CLUSTER_*_PORT`` variables move
the defaults, which the README names).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shared.bus import subjects
from tests.support.engine import base_config
from tests.support.launcher import cli, gone, healthy, pid_of, state, wait_for
from tools.launcher import embedded

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def _free_block(offsets: list[int]) -> int:
    """A base port such that base + every offset is free (and a Valkey node's bus port too), all below
    the kernel's ephemeral range (from 32768), where a client socket of another test could take one."""
    for _ in range(500):
        base = random.randrange(20000, 32768 - max(offsets))
        if not any(embedded.port_in_use(base + offset) for offset in offsets):
            return base
    raise AssertionError("no free block of ports")


@pytest.fixture(scope="module")
def cluster_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str], str, list[str]]]:
    root = tmp_path_factory.mktemp("cluster-up")
    first, second = embedded.free_port(), embedded.free_port()
    config = root / "engine.yaml"
    config.write_text(yaml.safe_dump(base_config(first, "${env:VALETKEY_ROOT_KEY}")))
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "REDIS_URL", "VALETKEY_ROOT_KEY")}
    env |= {
        "VALETKEY_CLUSTER_HOME": str(home),
        "VALETKEY_CONFIG": str(config),
        "VALETKEY_CLUSTER_NATS_PORT": str(_free_block([0, 1, 2, 100, 101, 102, 200, 201, 202])),
        "VALETKEY_CLUSTER_REDIS_PORT": str(_free_block([*range(6), *range(10000, 10006)])),
        "VALETKEY_CLUSTER_GATEWAY_PORT": str(second),
        "VALETKEY_UP_TIMEOUT": "180",
    }
    up = cli(env, "cluster-up")
    assert up.returncode == 0, up.stdout + up.stderr
    key = next(line.split()[-1] for line in up.stdout.splitlines() if line.startswith("API key"))
    gateways = [f"http://127.0.0.1:{first}", f"http://127.0.0.1:{second}"]
    try:
        yield home, env, key, gateways
    finally:
        cli(env, "cluster-down")


def test_both_gateways_answer_healthy_with_every_service_reachable(cluster_up):
    _, _, key, gateways = cluster_up
    for gateway in gateways:
        wait_for(lambda url=gateway: healthy(url, key), f"{gateway} to be healthy")


def test_every_service_runs_twice_beside_three_nats_nodes_and_six_valkey_nodes(cluster_up):
    home, env, _, _ = cluster_up
    names = [p["name"] for p in state(home)["processes"]]
    assert sum(n.startswith("nats-") for n in names) == 3
    assert sum(n.startswith("valkey-") for n in names) == 6
    for service in subjects.SERVICES:
        assert {f"{service}-1", f"{service}-2"} <= set(names)
    listed = cli(env, "cluster-status").stdout
    assert all(name in listed for name in names)


def test_the_valkey_cluster_it_formed_passes_the_cluster_check(cluster_up):
    home, env, _, _ = cluster_up
    cli_binary = shutil.which("valkey-cli") or shutil.which("redis-cli")
    assert cli_binary, "the cluster check needs redis-cli or valkey-cli on PATH"
    password = json.loads((home / "credentials.json").read_text())["redis"]
    port = env["VALETKEY_CLUSTER_REDIS_PORT"]
    check = subprocess.run(
        [cli_binary, "--no-auth-warning", "-a", password, "--cluster", "check", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "[OK] All 16384 slots covered." in check.stdout
    assert state(home)["redis_url"].startswith("redis+cluster://")
    assert state(home)["nats_url"].count("nats://") == 3


def test_a_killed_replica_is_started_again_while_its_twin_serves(cluster_up):
    home, _, key, gateways = cluster_up
    before = pid_of(home, "gateway-2")
    os.kill(before, signal.SIGKILL)
    assert healthy(gateways[0], key)  # the other gateway never stopped
    wait_for(lambda: pid_of(home, "gateway-2") not in (before, 0), "gateway-2 to be started again")
    wait_for(lambda: healthy(gateways[1], key), "gateway-2 to be healthy again")


def test_cluster_down_stops_every_process_it_started(cluster_up):
    home, env, _, _ = cluster_up
    pids = [p["pid"] for p in state(home)["processes"]] + [state(home)["supervisor"]]
    assert cli(env, "cluster-down").returncode == 0
    assert all(gone(pid) for pid in pids)

"""The local cluster's plan (`make cluster-up`) as the README and docs/scaling.md state it: two of
every service, the second gateway on 9100 beside engine.yaml's 9099, and NATS and Valkey ports that
meet neither `make up`'s nor each other. The e2e test moves every port, so these defaults are
checked here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from shared.bus import subjects
from tools.launcher.cluster import nats_nodes
from tools.launcher.supervisor import DEFAULT_NATS_PORT, DEFAULT_REDIS_PORT
from tools.launcher.topology import CLUSTER_NATS_PORT, CLUSTER_REDIS_PORT, VALKEY_NODES, replicas

ROOT = Path(__file__).resolve().parents[3]
# A Valkey Cluster node also listens on its port + 10000 (the cluster bus).
BUS_OFFSET = 10000


def test_make_up_runs_one_process_of_each_service():
    assert replicas("single", {}) == [(service, service, {}) for service in subjects.SERVICES]


def test_the_cluster_runs_two_of_every_service_and_the_second_gateway_on_9100():
    plan = replicas("cluster", {})
    assert Counter(service for _, service, _ in plan) == dict.fromkeys(subjects.SERVICES, 2)
    assert [(name, own) for name, _, own in plan if own] == [("gateway-2", {"VALETKEY_HTTP_PORT": "9100"})]


def test_the_second_gateways_port_moves_with_its_variable():
    plan = replicas("cluster", {"VALETKEY_CLUSTER_GATEWAY_PORT": "19100"})
    assert [own for _, _, own in plan if own] == [{"VALETKEY_HTTP_PORT": "19100"}]


def test_the_first_gateway_keeps_engine_yamls_9099():
    assert yaml.safe_load((ROOT / "engine.yaml").read_text())["api"]["port"] == 9099


def test_the_clusters_ports_meet_neither_make_ups_nor_the_gateways_nor_each_other():
    nats = [port for n in nats_nodes(CLUSTER_NATS_PORT) for port in (n.port, n.cluster_port, n.monitor_port)]
    valkey = list(range(CLUSTER_REDIS_PORT, CLUSTER_REDIS_PORT + VALKEY_NODES))
    taken = [*nats, *valkey, *(port + BUS_OFFSET for port in valkey), 9099, 9100]
    assert len(set(taken)) == len(taken)
    assert not {DEFAULT_NATS_PORT, DEFAULT_REDIS_PORT} & set(taken)
    assert (nats[0], valkey) == (14231, list(range(17001, 17007)))

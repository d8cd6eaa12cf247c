"""What the supervisor runs: one of each service on one NATS and one Valkey (``single``, `make up`),
or the local cluster (``cluster``, `make cluster-up`): a three-node NATS cluster with JetStream
R3, a Valkey Cluster of three primaries and three replicas, and two replicas of every service,
the gateways on 9099 and 9100 (``public_url`` stays the first's).

The cluster's ports never meet `make up`'s (NATS 14222, Valkey 16379): NATS clients on
14231-14233 (routes 14331-14333, monitoring 14431-14433), Valkey on 17001-17006 (cluster bus
27001-27006). ``VALETKEY_CLUSTER_NATS_PORT`` and ``VALETKEY_CLUSTER_REDIS_PORT`` move the first
of each.
"""

from __future__ import annotations

from pathlib import Path

from shared.bus import subjects
from tools.launcher import cluster, embedded
from tools.launcher.credentials import EngineCredentials
from tools.launcher.supervisor import Child

CLUSTER_NATS_PORT = 14231
CLUSTER_REDIS_PORT = 17001
VALKEY_NODES = 6
REPLICAS = 2
SECOND_GATEWAY_PORT = 9100


def replicas(topology: str, env: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    """(process name, service, its own variables) of every service replica to run."""
    if topology != "cluster":
        return [(service, service, {}) for service in subjects.SERVICES]
    second_gateway = env.get("VALETKEY_CLUSTER_GATEWAY_PORT", str(SECOND_GATEWAY_PORT))
    found = []
    for service in subjects.SERVICES:
        for replica in range(1, REPLICAS + 1):
            own = {"VALETKEY_HTTP_PORT": second_gateway} if service == "gateway" and replica == 2 else {}
            found.append((f"{service}-{replica}", service, own))
    return found


def start_clusters(home: Path, env: dict[str, str], credentials: EngineCredentials) -> list[Child]:
    """Start both clusters with the engine's credentials; point ``env`` at them. Returns the
    supervisor's children for the server processes."""
    logs, run, data = home / "logs", home / "run", home / "data"
    nodes = cluster.nats_nodes(int(env.get("VALETKEY_CLUSTER_NATS_PORT", CLUSTER_NATS_PORT)))
    nats_config = embedded.write_private(run / "nats-server.conf", credentials.nats_config())
    children: list[Child] = []
    for node in nodes:
        with (logs / f"nats-{node.name}.log").open("ab") as log:
            proc = cluster.start_nats_node(
                node, nodes, data / "nats", config=nats_config, log=log, detach=True
            )
        children.append(Child(f"nats-{node.name}", proc.args, restartable=False, proc=proc))
    cluster.wait_nats_ready(nodes)
    first = int(env.get("VALETKEY_CLUSTER_REDIS_PORT", CLUSTER_REDIS_PORT))
    ports = list(range(first, first + VALKEY_NODES))
    valkey_config = embedded.write_private(
        run / "valkey-server.conf", cluster.valkey_cluster_auth(credentials.redis)
    )
    for port in ports:
        with (logs / f"valkey-{port}.log").open("ab") as log:
            proc = cluster.start_valkey_node(
                port, data / "valkey", config=valkey_config, log=log, detach=True
            )
        children.append(Child(f"valkey-{port}", proc.args, restartable=False, proc=proc))
    cluster.form_valkey_cluster(ports, credentials.redis)
    env["NATS_URL"] = ",".join(node.url for node in nodes)
    env["REDIS_URL"] = cluster.cluster_url(ports[: VALKEY_NODES // 2])
    env.setdefault("VALETKEY_JETSTREAM_REPLICAS", "3")
    return children

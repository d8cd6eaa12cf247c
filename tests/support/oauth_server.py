"""Start and stop a real OAuth 2.0 authorization server (oidc-provider on Node.js) for tests.

The server lives in ``tests/node/oauth_server.mjs``; this module installs its npm
dependencies once, writes its JSON config, runs it on a free loopback port and
stops exactly the process it started.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

import httpx

from tests.support.deadlines import PROCESS_START_S

NODE_PROJECT = Path(__file__).resolve().parent.parent / "node"
LAUNCHER = NODE_PROJECT / "oauth_server.mjs"
HOST = "127.0.0.1"
# trust_env=False everywhere: a developer's HTTP(S)_PROXY must not capture loopback calls.

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]


class OAuthServerError(RuntimeError):
    """The test OAuth server could not be installed or started."""


@dataclass(frozen=True)
class OAuthClient:
    """One client registered at the test server (grant types: authorization_code, refresh_token)."""

    client_id: str
    redirect_uris: Sequence[str]
    client_secret: str | None = None
    token_endpoint_auth_method: AuthMethod = "client_secret_basic"
    require_pkce: bool = False

    def to_config(self) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": list(self.redirect_uris),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "require_pkce": self.require_pkce,
        }


@dataclass(frozen=True)
class ServerStats:
    """What the server's admin endpoint counted since start or the last reset."""

    token_requests: dict[str, int] = field(default_factory=dict)  # by grant_type
    token_errors: dict[str, int] = field(default_factory=dict)  # by grant_type, HTTP status >= 400
    token_auth_methods: dict[str, int] = field(default_factory=dict)  # client_secret_basic/_post, none
    userinfo_requests: int = 0
    grants_revoked: int = 0  # whole grants revoked (reuse of a spent refresh token, or revocation)
    refresh_reused_within_grace: int = 0  # spent refresh tokens accepted again inside the grace period
    token_in_flight: int = 0  # token requests being answered right now (not reset)


@dataclass
class OAuthServer:
    """A running oidc-provider process. Use as a context manager or call ``stop()``."""

    issuer: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def authorize_endpoint(self) -> str:
        return f"{self.issuer}/auth"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def userinfo_endpoint(self) -> str:
        return f"{self.issuer}/me"

    @property
    def revocation_endpoint(self) -> str:
        return f"{self.issuer}/token/revocation"

    def stats(self) -> ServerStats:
        response = httpx.get(f"{self.issuer}/__admin/stats", trust_env=False)
        response.raise_for_status()
        return ServerStats(**response.json())

    def reset(self) -> None:
        httpx.post(f"{self.issuer}/__admin/reset", trust_env=False).raise_for_status()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_oauth_server(
    tmp_dir: Path,
    *,
    clients: Sequence[OAuthClient],
    access_token_ttl: int = 3600,
    refresh_token_ttl: int = 14 * 24 * 3600,
    clock_tolerance: int = 0,
    refresh_latency_ms: int = 0,
    refresh_reuse_grace_seconds: int = 0,
    jwt_resources: Mapping[str, int] | None = None,
    startup_timeout: float = PROCESS_START_S,
) -> OAuthServer:
    """Install the npm dependencies if needed, then start a server and wait until it answers.

    ``refresh_latency_ms`` delays every refresh grant before the server handles it (a client
    killed meanwhile still spends its refresh token); ``refresh_reuse_grace_seconds`` accepts a
    spent refresh token again for that long instead of revoking the grant. ``jwt_resources``
    (resource URL -> seconds): a client asking for one of these resources (RFC 8707) gets a JWT
    access token for it, living that long.
    """
    node = _require_tool("node")
    ensure_node_modules()
    config = {
        "clients": [client.to_config() for client in clients],
        "access_token_ttl": access_token_ttl,
        "refresh_token_ttl": refresh_token_ttl,
        "clock_tolerance": clock_tolerance,
        "refresh_latency_ms": refresh_latency_ms,
        "refresh_reuse_grace_seconds": refresh_reuse_grace_seconds,
        "jwt_resources": dict(jwt_resources or {}),
        "exit_on_stdin_close": True,
    }
    # The free port is found by binding and releasing it, so another process may grab it
    # before node binds; a second attempt with a new port covers that rare race.
    for attempt in range(3):
        server = _launch(node, tmp_dir, {**config, "port": _free_port()}, attempt)
        if _wait_until_ready(server, startup_timeout):
            return server
        server.stop()
        if "EADDRINUSE" not in server.log_path.read_text():
            break
    raise OAuthServerError(f"OAuth test server did not start:\n{server.log_path.read_text()[-4000:]}")


def ensure_node_modules() -> None:
    """Run ``npm ci`` once; a file lock keeps parallel pytest workers from racing on it."""
    if _installed():
        return
    npm = _require_tool("npm")
    with _file_lock(NODE_PROJECT / ".install.lock"):
        if _installed():
            return
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_PROJECT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise OAuthServerError(f"npm ci failed in {NODE_PROJECT}:\n{result.stdout}\n{result.stderr}")


def _installed() -> bool:
    # npm writes node_modules/.package-lock.json at the end of an install; if the committed
    # lock file is newer (a dependency was added since), the install is stale.
    installed = NODE_PROJECT / "node_modules" / ".package-lock.json"
    wanted = NODE_PROJECT / "package-lock.json"
    return installed.exists() and installed.stat().st_mtime >= wanted.stat().st_mtime


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise OAuthServerError(
            f"`{name}` was not found on PATH; the OAuth test server needs Node.js >= 20.19 with npm"
        )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _launch(node: str, tmp_dir: Path, config: dict[str, object], attempt: int) -> OAuthServer:
    config_path = tmp_dir / f"oauth_server_{attempt}.json"
    config_path.write_text(json.dumps(config))
    log_path = tmp_dir / f"oauth_server_{attempt}.log"
    # A file, not a pipe: nobody reads the output while tests run, and a full pipe would block node.
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [node, str(LAUNCHER), str(config_path)],
            cwd=NODE_PROJECT,
            # Never written to: node exits when this pipe closes, i.e. when we die.
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return OAuthServer(issuer=f"http://{HOST}:{config['port']}", process=process, log_path=log_path)


def _wait_until_ready(server: OAuthServer, timeout: float) -> bool:
    discovery = f"{server.issuer}/.well-known/openid-configuration"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            if httpx.get(discovery, timeout=1.0, trust_env=False).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False

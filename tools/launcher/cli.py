"""The ``valetkey`` command: ``up``, ``down``, ``status``, ``run <service>`` and ``rotate-keys``.

``up`` checks the whole configuration first (``preflight``), then leaves a supervisor
running in the background (``supervisor``) that starts an embedded NATS (JetStream) and
Valkey unless ``NATS_URL``/``REDIS_URL`` point elsewhere, then every service, and restarts
a service that dies; ``up`` returns once ``/v1/health`` says every service answers. State
lives in ``.valetkey/`` (or ``VALETKEY_HOME``): generated secrets, data, logs, and
``run/state.json`` with what runs, its restart counts and the engine's NATS and Redis URLs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from shared.bus import subjects
from shared.errors import ConfigError
from shared.runtime.crypto import Cipher
from shared.runtime.redisio import service_redis
from shared.runtime.settings import Settings, load_settings
from tools.launcher import preflight
from tools.launcher.credentials import ensure_credentials
from tools.launcher.supervisor import state_file

if TYPE_CHECKING:
    from tools.rotate_keys import Tally

HEALTH_TIMEOUT_S = 30.0
SUPERVISOR_STOP_S = 60.0


def _home() -> Path:
    return Path(os.environ.get("VALETKEY_HOME", ".valetkey")).resolve()


# `cluster-up` keeps its state apart from `up`'s, so both can be known at once.
CLUSTER_HOME = ".valetkey-cluster"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _load_state(home: Path) -> dict[str, Any] | None:
    path = state_file(home)
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state if _alive(state.get("supervisor", 0)) else None


def ensure_secrets(home: Path) -> dict[str, str]:
    """Generate the API key, root key, bus key and webhook key once, kept in ``secrets.env`` (mode 600); the
    environment wins."""
    path = home / "secrets.env"
    stored: dict[str, str] = {}
    if path.exists():
        stored = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    generated = {
        "VALETKEY_API_KEY": stored.get("VALETKEY_API_KEY") or f"vk_{secrets.token_urlsafe(24)}",
        "VALETKEY_ROOT_KEY": stored.get("VALETKEY_ROOT_KEY") or secrets.token_urlsafe(32),
        "VALETKEY_BUS_KEY": stored.get("VALETKEY_BUS_KEY") or secrets.token_urlsafe(32),
        "VALETKEY_WEBHOOK_KEY": stored.get("VALETKEY_WEBHOOK_KEY") or secrets.token_urlsafe(32),
    }
    if generated != stored:
        home.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in generated.items()))
        path.chmod(0o600)
    return {k: os.environ.get(k) or v for k, v in generated.items()}


def wait_healthy(
    base_url: str, api_key: str, *, supervisor: subprocess.Popen[bytes], timeout: float | None = None
) -> dict[str, Any]:
    """Poll ``/v1/health`` until every service answers; returns the last body seen."""
    limit = timeout or float(os.environ.get("VALETKEY_UP_TIMEOUT", HEALTH_TIMEOUT_S))
    deadline = time.monotonic() + limit
    body: dict[str, Any] = {}
    while time.monotonic() < deadline and supervisor.poll() is None:
        _fail_on_a_crash_while_starting()
        try:
            response = httpx.get(
                f"{base_url}/v1/health",
                headers={"Authorization": f"Bearer {api_key}", "Valetkey-Extras": "true"},
                timeout=2,
            )
            body = response.json()
            if response.status_code == 200 and body.get("healthy"):
                return body
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.25)
    if supervisor.poll() is not None:
        logs = _home() / "logs"
        why = "\n".join(_last_lines(logs / "supervisor.log", 12))
        raise SystemExit(f"valetkey could not start (exit {supervisor.returncode}); see {logs}\n{why}")
    raise SystemExit(f"valetkey did not become healthy within {limit:.0f}s: {body or 'no answer'}")


def _last_lines(log: Path, count: int) -> list[str]:
    """The last ``count`` non-blank lines of a log, or none when it does not exist."""
    if not log.exists():
        return []
    return [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-count:]


def _fail_on_a_crash_while_starting() -> None:
    """A service that died before the engine was up will not fix itself: say why, at once."""
    home = _home()
    state = _load_state(home) or {"processes": []}
    for proc in state["processes"]:
        if proc["restarts"] > 0 or not proc["running"]:
            lines = _last_lines(home / "logs" / f"{proc['name']}.log", 1)
            raise SystemExit(f"valetkey: {proc['name']} exited while starting: {lines[-1] if lines else '?'}")


def _gateway_base_url(settings: Settings) -> str:
    api = settings.engine.api
    host = "127.0.0.1" if api.host in ("0.0.0.0", "localhost", "::") else api.host  # noqa: S104
    return f"http://{host}:{api.port}"


def up(_: argparse.Namespace) -> int:
    return _up("single")


def _as_cluster(command: Any) -> Any:
    """``command`` run against the local cluster's home (``VALETKEY_CLUSTER_HOME``)."""

    def run(args: argparse.Namespace) -> int:
        os.environ["VALETKEY_HOME"] = os.environ.get("VALETKEY_CLUSTER_HOME", CLUSTER_HOME)
        result: int = command(args)
        return result

    return run


def cluster_up(_: argparse.Namespace) -> int:
    return _up("cluster")


def _up(topology: str) -> int:
    home = _home()
    secrets_env = ensure_secrets(home)
    if (state := _load_state(home)) is not None:
        print(f"valetkey is already running: {state['base_url']}\nAPI key: {secrets_env['VALETKEY_API_KEY']}")
        return 0
    env = {**os.environ, **secrets_env}
    try:
        settings = preflight.check(env)
    except ConfigError as exc:
        print(f"valetkey: configuration error: {exc}", file=sys.stderr)
        return 2
    base_url = _gateway_base_url(settings)
    supervisor = _start_supervisor(home, env, base_url, topology)
    try:
        health = wait_healthy(base_url, secrets_env["VALETKEY_API_KEY"], supervisor=supervisor)
    except SystemExit:
        _stop_supervisor(supervisor.pid)
        raise
    state = _load_state(home) or {}
    print(f"NATS: {state.get('nats_url')}    Redis: {state.get('redis_url')}")
    print(f"valetkey is up: {base_url}   services: {', '.join(sorted(health.get('services', {})))}")
    print(f"API key:       {secrets_env['VALETKEY_API_KEY']}")
    print(f"OAuth redirect URI to register at providers: {settings.redirect_uri}")
    print(f"logs: {home / 'logs'}    stop with: make down")
    return 0


def _start_supervisor(
    home: Path, env: dict[str, str], base_url: str, topology: str = "single"
) -> subprocess.Popen[bytes]:
    (home / "logs").mkdir(parents=True, exist_ok=True)
    with (home / "logs" / "supervisor.log").open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "tools.launcher.supervisor", str(home), base_url, topology],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop_supervisor(pid: int, *, timeout: float = SUPERVISOR_STOP_S) -> None:
    """SIGTERM the supervisor, which stops the services, then NATS and Valkey; wait for it."""
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def down(_: argparse.Namespace) -> int:
    home = _home()
    path = state_file(home)
    if not path.exists():
        print("valetkey is not running")
        return 0
    state = json.loads(path.read_text())
    _stop_supervisor(state.get("supervisor", 0))
    leftovers = [p["pid"] for p in state["processes"] if p["pid"] and _alive(p["pid"])]
    for pid in leftovers:  # only when the supervisor itself was killed before it could stop them
        os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    print(f"stopped {len(state['processes'])} processes")
    return 0


def status(_: argparse.Namespace) -> int:
    state = _load_state(_home())
    if state is None:
        print("valetkey is not running")
        return 1
    print(f"{'supervisor':<16} pid {state['supervisor']:<8} running")
    for proc in state["processes"]:
        running = "running" if proc["pid"] and _alive(proc["pid"]) else "restarting"
        print(f"{proc['name']:<16} pid {proc['pid']:<8} {running:<10} restarts {proc['restarts']}")
    return 0


def _embedded_in_use(state: dict[str, Any], env: dict[str, str]) -> set[str]:
    """The engine's embedded servers this process will reach (its URLs were not pointed elsewhere)."""
    secured: list[str] = state.get("secured", [])
    return {kind for kind in secured if env.get(f"{kind.upper()}_URL") == state[f"{kind}_url"]}


def _engine_env(service: str | None = None) -> dict[str, str]:
    """The environment a service would get: generated secrets, then the running engine's URLs and,
    for its embedded servers, the credentials of ``service`` (without one, Redis's alone)."""
    home = _home()
    env = {**ensure_secrets(home), **os.environ}
    if (state := _load_state(home)) is not None:
        env.setdefault("NATS_URL", state["nats_url"])
        env.setdefault("REDIS_URL", state["redis_url"])
        env |= ensure_credentials(home).service_env(service, _embedded_in_use(state, env))
    return env


def run(args: argparse.Namespace) -> int:
    """Run one service in the foreground, against the running engine's NATS and Redis if any."""
    env = _engine_env(args.service)
    os.execve(sys.executable, [sys.executable, "-m", f"services.{args.service}"], env)  # noqa: S606


def rotate_keys(_: argparse.Namespace) -> int:
    """Re-encrypt every record under the default root key, webhook secrets under the default
    webhook key (tools/rotate_keys.py)."""
    try:
        settings = load_settings(_engine_env())
        cipher, webhook_cipher = settings.cipher(), settings.webhook_cipher()
    except ConfigError as exc:
        print(f"valetkey: configuration error: {exc}", file=sys.stderr)
        return 2
    tally = asyncio.run(_rotate(settings, cipher, webhook_cipher))
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(tally.resealed.items())) or "none"
    print(
        f"re-encrypted {tally.total_resealed} records under root key {cipher.default_key_id!r} and "
        f"webhook key {webhook_cipher.default_key_id!r} ({kinds}); "
        f"{tally.current} were already; {tally.unreadable} no configured key opens"
    )
    return 0 if tally.unreadable == 0 else 1


async def _rotate(settings: Settings, cipher: Cipher, webhook_cipher: Cipher) -> Tally:
    # imported here: it reaches into every service's adapters, which `up` and `down` never need
    from tools.rotate_keys import rotate

    redis = service_redis(settings.runtime)
    try:
        return await rotate(
            redis,
            cipher,
            webhook_cipher=webhook_cipher,
            prefix=settings.runtime.key_prefix,
            show_progress=sys.stderr.isatty(),
            keyspace=settings.keyspace(),
        )
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="valetkey", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the engine in the background").set_defaults(func=up)
    commands.add_parser("down", help="stop everything `up` started").set_defaults(func=down)
    commands.add_parser("status", help="list the processes `up` started").set_defaults(func=status)
    commands.add_parser(
        "cluster-up", help="start the local cluster: 3 NATS nodes, a Valkey Cluster, 2 of every service"
    ).set_defaults(func=_as_cluster(cluster_up))
    commands.add_parser("cluster-down", help="stop everything `cluster-up` started").set_defaults(
        func=_as_cluster(down)
    )
    commands.add_parser("cluster-status", help="list the processes `cluster-up` started").set_defaults(
        func=_as_cluster(status)
    )
    run_parser = commands.add_parser("run", help="run one service in the foreground")
    run_parser.add_argument("service", choices=subjects.SERVICES)
    run_parser.set_defaults(func=run)
    commands.add_parser(
        "rotate-keys", help="re-encrypt every record under the default root / webhook key (online, resumable)"
    ).set_defaults(func=rotate_keys)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())

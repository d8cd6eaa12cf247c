"""The ``valetkey`` command: ``up``, ``down``, ``status`` and ``run <service>``.

``up`` starts, in the background, an embedded NATS (JetStream) and Valkey unless
``NATS_URL``/``REDIS_URL`` point elsewhere, then the four services, and waits
until ``/v1/health`` says all four answer. State lives in ``.valetkey/`` (or
``VALETKEY_HOME``): generated secrets, data, logs and the pids ``down`` stops.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from shared import subjects
from shared.launcher import embedded

DEFAULT_NATS_PORT = 14222
DEFAULT_REDIS_PORT = 16379
HEALTH_TIMEOUT_S = 30.0


def _home() -> Path:
    return Path(os.environ.get("VALETKEY_HOME", ".valetkey")).resolve()


def _state_file(home: Path) -> Path:
    return home / "run" / "state.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _load_state(home: Path) -> dict[str, Any] | None:
    path = _state_file(home)
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state if any(_alive(p["pid"]) for p in state["processes"]) else None


def ensure_secrets(home: Path) -> dict[str, str]:
    """Generate the API key and root key once, kept in ``secrets.env`` (mode 600); the environment wins."""
    path = home / "secrets.env"
    stored: dict[str, str] = {}
    if path.exists():
        stored = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    generated = {
        "VALETKEY_API_KEY": stored.get("VALETKEY_API_KEY") or f"vk_{secrets.token_urlsafe(24)}",
        "VALETKEY_ROOT_KEY": stored.get("VALETKEY_ROOT_KEY") or secrets.token_urlsafe(32),
    }
    if generated != stored:
        home.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in generated.items()))
        path.chmod(0o600)
    return {k: os.environ.get(k) or v for k, v in generated.items()}


def _start_servers(home: Path, env: dict[str, str], processes: list[dict[str, Any]]) -> list[str]:
    notes: list[str] = []
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if not env.get("NATS_URL"):
        port = embedded.pick_port(int(env.get("VALETKEY_NATS_PORT", DEFAULT_NATS_PORT)))
        with (logs / "nats.log").open("ab") as log:
            proc = embedded.start_nats(port, home / "data" / "nats", log=log, detach=True)
        processes.append({"name": "nats-server", "pid": proc.pid})
        env["NATS_URL"] = f"nats://127.0.0.1:{port}"
        notes.append(f"embedded NATS (JetStream) on {env['NATS_URL']}")
    if not env.get("REDIS_URL"):
        port = embedded.pick_port(int(env.get("VALETKEY_REDIS_PORT", DEFAULT_REDIS_PORT)))
        with (logs / "valkey.log").open("ab") as log:
            proc = embedded.start_valkey(port, home / "data" / "valkey", log=log, detach=True)
        processes.append({"name": "valkey-server", "pid": proc.pid})
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        notes.append(f"embedded Valkey on {env['REDIS_URL']}")
    return notes


def _start_services(home: Path, env: dict[str, str], processes: list[dict[str, Any]]) -> None:
    for service in subjects.SERVICES:
        with (home / "logs" / f"{service}.log").open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", f"services.{service}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append({"name": service, "pid": proc.pid})


def wait_healthy(base_url: str, api_key: str, *, timeout: float = HEALTH_TIMEOUT_S) -> dict[str, Any]:
    """Poll ``/v1/health`` until every service answers; returns the last body seen."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            response = httpx.get(
                f"{base_url}/v1/health", headers={"Authorization": f"Bearer {api_key}"}, timeout=2
            )
            body = response.json()
            if response.status_code == 200 and body.get("healthy"):
                return body
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.25)
    raise SystemExit(f"valetkey did not become healthy within {timeout:.0f}s: {body or 'no answer'}")


def _gateway_base_url(env: dict[str, str]) -> str:
    from shared.settings import load_settings

    settings = load_settings(env)
    api = settings.engine.api
    host = "127.0.0.1" if api.host in ("0.0.0.0", "localhost", "::") else api.host  # noqa: S104
    return f"http://{host}:{api.port}"


def up(_: argparse.Namespace) -> int:
    home = _home()
    secrets_env = ensure_secrets(home)
    if (state := _load_state(home)) is not None:
        print(f"valetkey is already running: {state['base_url']}\nAPI key: {secrets_env['VALETKEY_API_KEY']}")
        return 0
    env = {**os.environ, **secrets_env}
    base_url = _gateway_base_url(env)
    processes: list[dict[str, Any]] = []
    notes = _start_servers(home, env, processes)
    _start_services(home, env, processes)
    state = {
        "base_url": base_url,
        "processes": processes,
        "nats_url": env["NATS_URL"],
        "redis_url": env["REDIS_URL"],
    }
    _state_file(home).parent.mkdir(parents=True, exist_ok=True)
    _state_file(home).write_text(json.dumps(state, indent=2))
    try:
        health = wait_healthy(base_url, secrets_env["VALETKEY_API_KEY"])
    except SystemExit:
        _stop_all(processes)
        raise
    print("\n".join(notes))
    print(f"valetkey is up: {base_url}   services: {', '.join(sorted(health.get('services', {})))}")
    print(f"API key:       {secrets_env['VALETKEY_API_KEY']}")
    print(f"OAuth redirect URI to register at providers: {base_url}/oauth/callback")
    print(f"logs: {home / 'logs'}    stop with: make down")
    return 0


def _stop_all(processes: list[dict[str, Any]], *, timeout: float = 20.0) -> None:
    for proc in reversed(processes):
        if _alive(proc["pid"]):
            os.kill(proc["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p["pid"]) for p in processes):
        time.sleep(0.1)
    for proc in processes:
        if _alive(proc["pid"]):
            os.kill(proc["pid"], signal.SIGKILL)


def down(_: argparse.Namespace) -> int:
    home = _home()
    path = _state_file(home)
    if not path.exists():
        print("valetkey is not running")
        return 0
    state = json.loads(path.read_text())
    _stop_all(state["processes"])
    path.unlink()
    print(f"stopped {len(state['processes'])} processes")
    return 0


def status(_: argparse.Namespace) -> int:
    state = _load_state(_home())
    if state is None:
        print("valetkey is not running")
        return 1
    for proc in state["processes"]:
        print(f"{proc['name']:<16} pid {proc['pid']:<8} {'running' if _alive(proc['pid']) else 'stopped'}")
    return 0


def run(args: argparse.Namespace) -> int:
    os.execv(sys.executable, [sys.executable, "-m", f"services.{args.service}"])  # noqa: S606


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="valetkey", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the engine in the background").set_defaults(func=up)
    commands.add_parser("down", help="stop everything `up` started").set_defaults(func=down)
    commands.add_parser("status", help="list the processes `up` started").set_defaults(func=status)
    run_parser = commands.add_parser("run", help="run one service in the foreground")
    run_parser.add_argument("service", choices=subjects.SERVICES)
    run_parser.set_defaults(func=run)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())

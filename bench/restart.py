"""Time from a service's SIGKILL to the engine healthy again, under `valetkey up`'s supervisor.

``python -m bench restart [-- --kills 20 --service all]``: starts the engine with
``valetkey up`` in a temporary home (embedded NATS and Valkey on free ports), kills a
service (each in turn by default) with SIGKILL ``--kills`` times, and measures how long
``/v1/health`` takes to say healthy again each time: the supervisor's notice and backoff,
the interpreter's start, the service's own start-up and its first health answer. Reported as p50/p99 in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.common import summarize_ms
from shared.bus import subjects
from tests.support.engine import base_config
from tools.launcher import embedded

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "tools.launcher.cli"]


def _healthy(base_url: str, key: str) -> bool:
    try:
        response = httpx.get(f"{base_url}/v1/health", headers={"Authorization": key}, timeout=1)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and bool(response.json().get("healthy"))


def _pid(home: Path, service: str) -> int:
    state = json.loads((home / "run" / "state.json").read_text())
    return int(next(p["pid"] for p in state["processes"] if p["name"] == service))


def _kill_and_time(home: Path, service: str, base_url: str, key: str) -> float:
    victim = _pid(home, service)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    while _pid(home, service) in (victim, 0) or not _healthy(base_url, key):
        time.sleep(0.02)
    return time.monotonic() - killed_at


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench restart")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument(
        "--service", default="all", help="one service, or 'all' to kill each in turn (round robin)"
    )
    # Each service's kills lie past the supervisor's 30 s "stable" window, so each kill meets
    # the first backoff (0.5 s): 31 s between kills of one service, 7 s when five take turns.
    parser.add_argument("--settle", type=float, default=None, help="seconds between kills")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vk-bench-restart-") as tmp:
        home, port = Path(tmp) / "home", embedded.free_port()
        (Path(tmp) / "engine.yaml").write_text(yaml.safe_dump(base_config(port, "${env:VALETKEY_ROOT_KEY}")))
        env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "REDIS_URL")}
        env.update(
            VALETKEY_HOME=str(home),
            VALETKEY_CONFIG=str(Path(tmp) / "engine.yaml"),
            VALETKEY_NATS_PORT=str(embedded.free_port()),
            VALETKEY_REDIS_PORT=str(embedded.free_port()),
            VALETKEY_UP_TIMEOUT="240",
        )
        up = subprocess.run([*CLI, "up"], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        key = next(line.split()[-1] for line in up.stdout.splitlines() if line.startswith("API key"))
        base_url = f"http://127.0.0.1:{port}"
        samples: list[float] = []
        victims = list(subjects.SERVICES) if args.service == "all" else [args.service]
        settle = args.settle if args.settle is not None else 31.0 / len(victims) + 1.0
        try:
            for kill in range(args.kills):
                if kill:
                    time.sleep(settle)
                samples.append(_kill_and_time(home, victims[kill % len(victims)], base_url, key))
        finally:
            subprocess.run([*CLI, "down"], cwd=ROOT, env=env, capture_output=True, check=False)
    result = {"service": args.service, "kill_to_healthy": summarize_ms(samples)}
    print(json.dumps(result, indent=2))
    return result

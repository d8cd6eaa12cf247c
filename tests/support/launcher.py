"""Driving the ``valetkey`` command as an operator does, and reading what it left in its home."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.deadlines import PROCESS_START_S
from tests.support.engine import ROOT

CLI = [sys.executable, "-m", "tools.launcher.cli"]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=PROCESS_START_S + 60
    )


def state(home: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((home / "run" / "state.json").read_text())
    return state


def pid_of(home: Path, name: str) -> int:
    return int(next(p["pid"] for p in state(home)["processes"] if p["name"] == name))


def wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + PROCESS_START_S
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def healthy(port_url: str, key: str) -> bool:
    try:
        response = httpx.get(f"{port_url}/v1/health", headers={"Authorization": key}, timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and bool(response.json().get("healthy"))

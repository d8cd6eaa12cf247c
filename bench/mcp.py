"""MCP gateway benchmark: ``tools/call`` through a gateway against ``POST /v1/tools/execute``, same run.

Processes: Valkey and nats-server (embedded binaries), the five services with hooli loaded in
the executor (bench/execute.py's stack), and this driver. The tool is ``Hooli.Ping`` (in
process, no authorization, returns at once), so both paths measure the engine, not the tool.

The MCP requests are the JSON-RPC ``tools/call`` POSTs an MCP client sends to a stateless
Streamable HTTP server (``Accept: application/json, text/event-stream``, protocol version
header), written with aiohttp like the execute path: an SDK client's own CPU would be counted
as the gateway's. At 1 and at ``--concurrency`` concurrent clients, alternating the two paths
in ``--rounds`` rounds; the MCP overhead is the ratio of throughputs and the difference of p50s.

Run: ``python -m bench mcp`` (``-- --requests N --concurrency C --rounds R``). Numbers, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import secrets
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import table
from bench.execute import ROOT, USER, engine_stack, measure

GATEWAY = {"mcp": {"gateways": [{"slug": "bench", "tools": ["Hooli.Ping"]}]}}
PROTOCOL_VERSION = "2025-11-25"


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench mcp")
    parser.add_argument("--requests", type=int, default=2000, help="measured calls per path and round")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args(argv)


def _calls(http: aiohttp.ClientSession, api_key: str) -> dict[str, Callable[[], Awaitable[None]]]:
    execute = {"tool_name": "Hooli.Ping", "input": {}, "user_id": USER}
    mcp_headers = {
        "Authorization": f"Bearer {api_key}",
        "Arcade-User-ID": USER,
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL_VERSION,
    }
    ids = itertools.count(1)

    async def rest() -> None:
        async with http.post(
            "/v1/tools/execute", json=execute, headers={"Authorization": api_key}
        ) as response:
            payload = await response.json()
            if response.status != 200 or payload["output"]["value"] != "pong":
                raise RuntimeError(f"execute failed: {response.status} {str(payload)[:300]}")

    async def mcp() -> None:
        call = {
            "jsonrpc": "2.0",
            "id": next(ids),
            "method": "tools/call",
            "params": {"name": "Hooli_Ping", "arguments": {}},
        }
        async with http.post("/mcp/bench", json=call, headers=mcp_headers) as response:
            payload = await response.json()
            if (
                response.status != 200
                or payload.get("result", {}).get("content", [{}])[0].get("text") != "pong"
            ):
                raise RuntimeError(f"tools/call failed: {response.status} {str(payload)[:300]}")

    return {"POST /v1/tools/execute": rest, "MCP tools/call": mcp}


async def _run(args: argparse.Namespace, base: str, api_key: str) -> list[dict[str, Any]]:
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    rows = []
    async with aiohttp.ClientSession(base_url=base, connector=connector) as http:
        calls = _calls(http, api_key)
        for call in calls.values():
            await measure(call, args.warmup, 4)
        for clients in (1, args.concurrency):
            samples: dict[str, list[dict[str, Any]]] = {label: [] for label in calls}
            for _ in range(args.rounds):  # alternating, so a noisy neighbour hits both paths alike
                for label, call in calls.items():
                    samples[label].append(await measure(call, args.requests, clients))
            rows.append(_compare(clients, samples))
    return rows


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _compare(clients: int, samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    rest, mcp = samples["POST /v1/tools/execute"], samples["MCP tools/call"]
    rest_p50, mcp_p50 = _median([r["p50_ms"] for r in rest]), _median([r["p50_ms"] for r in mcp])
    rest_rps, mcp_rps = _median([r["rps"] for r in rest]), _median([r["rps"] for r in mcp])
    return {
        "clients": clients,
        "execute_p50_ms": rest_p50,
        "mcp_p50_ms": mcp_p50,
        "p50_diff_ms": round(mcp_p50 - rest_p50, 3),
        "execute_p99_ms": _median([r["p99_ms"] for r in rest]),
        "mcp_p99_ms": _median([r["p99_ms"] for r in mcp]),
        "execute_rps": rest_rps,
        "mcp_rps": mcp_rps,
        "rps_ratio": round(mcp_rps / rest_rps, 3),
    }


def main(argv: list[str]) -> dict[str, Any]:
    """Start the stack, measure, print a table; return the numbers for bench/results/mcp.json."""
    args = _args(argv)
    root_key, api_key = secrets.token_urlsafe(32), f"vk_bench_{secrets.token_urlsafe(12)}"
    sys.path.insert(0, str(ROOT))  # the hooli test toolkit lives under tests/
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vk-bench-mcp-")))
        base, _, _ = stack.enter_context(engine_stack(home, root_key, api_key, GATEWAY))
        rows = asyncio.run(_run(args, base, api_key))
    print(table(rows))
    print("rps_ratio: MCP throughput / execute throughput; p50_diff_ms: MCP p50 - execute p50")
    return {"rows": rows, **vars(args), "cpus": os.cpu_count()}

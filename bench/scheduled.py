"""Scheduled executions: how late past ``run_at`` a burst of scheduled runs starts, none missed, none doubled.

Processes: Valkey and nats-server (embedded), the engine's services with ``--executors`` executor
replicas and the hooli toolkit in process. The driver schedules ``--runs`` runs of ``Hooli.Ping``
through ``POST /v1/tools/execute`` with ``run_at`` spread evenly over ``--spread`` seconds, the
first ``--lead`` seconds ahead (time to schedule them all), then reads every run back from the
admin history (``GET /v1/admin/executions``).

Reported: lateness (the run's ``started_at`` past its ``run_at``) p50/p99/max in ms; ``missed``
(still not finished ``--grace`` seconds after the last ``run_at``); ``doubled`` (a run with more
than one attempt, or recorded as found started by another executor); ``refused`` (a ``run_at``
already past when its schedule call got through: the driver was too slow, raise ``--lead``).

Run: ``python -m bench scheduled`` (``-- --runs 10000 --spread 60 --lead 40 --executors 2``).
Numbers, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import summarize_ms
from bench.execute import ROOT, engine_stack


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench scheduled")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=20.0, help="seconds the run_at values span")
    parser.add_argument("--lead", type=float, default=10.0, help="seconds before the first run_at")
    parser.add_argument("--executors", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent schedule calls")
    parser.add_argument("--grace", type=float, default=30.0)
    return parser.parse_args(argv)


def _extra() -> dict[str, Any]:
    tools = {
        "toolkits": ["tests.support.toolkits.hooli"],
        "directors": [],
        "scheduled": {"poll_seconds": 0.2},
    }
    return {"tools": tools}


async def _schedule(http: aiohttp.ClientSession, args: argparse.Namespace) -> tuple[list[str], int, float]:
    """Schedule every run; returns their ids, how many were refused, and how long that took."""
    first = datetime.now(UTC) + timedelta(seconds=args.lead)
    step = args.spread / max(1, args.runs - 1)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(args.runs):
        queue.put_nowait(i)
    ids: list[str] = []
    refused = 0

    async def worker() -> None:
        nonlocal refused
        while not queue.empty():
            i = queue.get_nowait()
            run_at = (first + timedelta(seconds=i * step)).isoformat()
            body = {"tool_name": "Hooli.Ping", "user_id": "bench-user", "run_at": run_at}
            async with http.post("/v1/tools/execute", json=body) as response:
                payload = await response.json()
                if response.status == 200:
                    ids.append(payload["id"])
                elif response.status == 400 and "future" in payload.get("message", ""):
                    refused += 1
                else:
                    raise RuntimeError(f"schedule failed: {response.status} {str(payload)[:300]}")

    began = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    took = time.monotonic() - began
    last = first + timedelta(seconds=args.spread)
    await asyncio.sleep(max(0.0, (last - datetime.now(UTC)).total_seconds()))
    return ids, refused, took


async def _records(http: aiohttp.ClientSession) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        params: dict[str, str | int] = {"execution_type": "scheduled", "limit": 100, "offset": offset}
        async with http.get("/v1/admin/executions", params=params) as response:
            page = await response.json()
        found.update({item["id"]: item for item in page["items"]})
        offset += len(page["items"])
        if not page["items"] or offset >= page["total_count"]:
            return found


def _lateness_s(record: dict[str, Any]) -> float:
    run_at = datetime.fromisoformat(record["run_at"])
    return (datetime.fromisoformat(record["started_at"]) - run_at).total_seconds()


async def _run(base: str, api_key: str, args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}"}
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(base_url=base, headers=headers, connector=connector) as http:
        ids, refused, scheduled_in = await _schedule(http, args)
        deadline = time.monotonic() + args.grace
        while True:
            records = await _records(http)
            unfinished = [
                i for i in ids if records.get(i, {}).get("execution_status") not in ("success", "failed")
            ]
            if not unfinished or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
    done = [records[i] for i in ids if i not in set(unfinished)]
    doubled = [r for r in done if r["attempts"] != 1]
    failed = [r for r in done if r["execution_status"] != "success"]
    return {
        "runs": args.runs,
        "spread_s": args.spread,
        "executors": args.executors,
        "scheduled": len(ids),
        "refused": refused,
        "scheduling_s": round(scheduled_in, 1),
        "lateness": summarize_ms([_lateness_s(r) for r in done]),
        "lateness_max_ms": round(max((_lateness_s(r) for r in done), default=0.0) * 1000, 1),
        "missed": len(unfinished),
        "doubled": len(doubled),
        "failed": len(failed),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str]) -> dict[str, Any]:
    """Start the stack, schedule, wait, read back; print and return the numbers."""
    args = _args(argv)
    root_key, api_key = secrets.token_urlsafe(32), f"vk_bench_{secrets.token_urlsafe(12)}"
    sys.path.insert(0, str(ROOT))  # the hooli test toolkit lives under tests/
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vk-bench-scheduled-")))
        extra = _extra()
        base, _, _ = stack.enter_context(
            engine_stack(home, root_key, api_key, extra, executors=args.executors)
        )
        result = asyncio.run(_run(base, api_key, args))
    for key, value in result.items():
        print(f"{key:>16}: {value}")
    return result

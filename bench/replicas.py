"""One replica against two, in the same run: the hot reads through the gateway, and refreshes.

Gateway: ``bench/gateway.py``'s stack (embedded NATS and Valkey, the real OAuth server, every
service as a process). The hot reads (``GET /v1/auth/status`` of a completed authorization and
``POST /v1/tools/authorize`` with the token held) run with 50 clients on one gateway, then with a
second replica of the gateway, authorizer and executor started and the clients split over both
gateways. Refresh: ``bench/refresh.py``'s stack (a local token endpoint): a burst of tokens all due
at once drained by one refresher, then a second burst by two.

This machine has two cores, shared with the load generator, the OAuth server, NATS and Valkey,
so two replicas cannot double anything here: the req/s ratio says what a second replica buys on
a full machine, and CPU per operation of each service (``/proc/<pid>/stat``) is the figure that
carries over to sizing (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench import refresh
from bench.common import table
from bench.loadgen import Target, run_load
from bench.profile import cpu_seconds
from bench.stacks import USER, complete_authorization, hot_reads, oauth_stack
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy
from shared.tokens.store import TokenStore
from tests.support.engine import Engine
from tools.launcher import embedded

CLIENTS = 50
SCALED = ("gateway", "authorizer", "executor")


def _cpu(engine: Engine) -> dict[str, float]:
    return {name: cpu_seconds(proc.pid) for name, proc in engine.procs.items()}


async def _load(targets: list[Target], duration: float) -> dict[str, Any]:
    """``CLIENTS`` clients split over ``targets`` (one per gateway), together."""
    share = CLIENTS // len(targets)
    loads = await asyncio.gather(*(run_load(t, concurrency=share, duration=duration) for t in targets))
    return {"rps": round(sum(load["rps"] for load in loads), 1), "n": sum(load["n"] for load in loads)}


async def _measured(engine: Engine, targets: list[Target], duration: float) -> dict[str, Any]:
    before = _cpu(engine)
    load = await _load(targets, duration)
    after = _cpu(engine)
    per_service: dict[str, float] = {}
    for name in after:  # replicas add up under their service's name
        service = name.split("-")[0]
        per_service[service] = per_service.get(service, 0.0) + after[name] - before.get(name, 0.0)
    return {
        "rps": load["rps"],
        "cpu_us_per_op": {s: round(cpu / max(load["n"], 1) * 1e6) for s, cpu in sorted(per_service.items())},
    }


def _on(target: Target, base_url: str, other: str) -> Target:
    return Target(target.method, target.url.replace(base_url, other), target.headers, target.json)


async def _hot_reads(engine: Engine) -> dict[str, Target]:
    async with httpx.AsyncClient(timeout=30) as http, aiohttp.ClientSession() as timed:
        auth_id, _ = await complete_authorization(http, timed, engine, USER)
    return hot_reads(engine, auth_id)


def _second_replicas(engine: Engine) -> str:
    """A second replica of each scaled service, the gateway's on a port of its own; its base URL."""
    second_port = embedded.free_port()
    for service in SCALED:
        extra = {"VALETKEY_HTTP_PORT": str(second_port)} if service == "gateway" else {}
        engine.start_service(service, replica=2, extra_env=extra)
    engine.wait_healthy()
    deadline = time.monotonic() + 60
    while not embedded.port_in_use(second_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    return f"http://127.0.0.1:{second_port}"


def _gateway_rounds(engine: Engine, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    reads = asyncio.run(_hot_reads(engine))
    one = {name: asyncio.run(_measured(engine, [t], args.duration)) for name, t in reads.items()}
    other = _second_replicas(engine)
    two = {
        name: asyncio.run(_measured(engine, [t, _on(t, engine.base_url, other)], args.duration))
        for name, t in reads.items()
    }
    return {name: {"one": one[name], "two": two[name]} for name in reads}


async def _burst(
    run: refresh.Stack, store: TokenStore, tag: str, count: int, pids: list[int]
) -> dict[str, Any]:
    due = datetime.now(UTC) + timedelta(seconds=count / refresh.SEED_RATE_GUESS + 5)
    before = await refresh.endpoint_requests(run.endpoint_url)
    await refresh.seed(store, tag, [due] * count, 30.0)
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    started = time.time()
    await refresh.wait_for_arrivals(run.endpoint_url, tag, count, started + 600, pids[0], before=before)
    records = await refresh.endpoint_records(run.endpoint_url)
    result = refresh.spread_result(tag, [due] * count, 30.0, records)
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    return {"refreshes_per_s": result["refreshes_per_s"], "cpu_us_per_refresh": round(cpu / count * 1e6)}


async def _refresh_rounds(args: argparse.Namespace) -> dict[str, Any]:
    with refresh.stack() as run:
        config = refresh._config(run, 30.0)
        first = refresh.start_refresher(run, config, args.concurrency)
        redis = create_redis(run.redis_url)
        cipher = Cipher([RootKey("k1", run.root_key, default=True)])
        store = TokenStore(redis, cipher, RefreshPolicy(margin_seconds=30.0), prefix=refresh.PREFIX)
        try:
            one = await _burst(run, store, "one-", args.burst, [first.pid])
            second = refresh.start_refresher(run, config, args.concurrency)
            two = await _burst(run, store, "two-", args.burst, [first.pid, second.pid])
        finally:
            await redis.aclose()
    return {"one": one, "two": two}


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench replicas")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per hot read")
    parser.add_argument("--burst", type=int, default=3000, help="tokens due at once per refresh round")
    parser.add_argument("--concurrency", type=int, default=8, help="each refresher's concurrency")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, oauth_stack(Path(tmp)) as (engine, _):
        gateway = _gateway_rounds(engine, args)
    refreshes = asyncio.run(_refresh_rounds(args))
    rows: list[dict[str, object]] = []
    for name, pair in {**gateway, "refresh burst": None}.items():
        if pair is None:
            one, two = refreshes["one"], refreshes["two"]
            rows.append(
                _row(name, one["refreshes_per_s"], two["refreshes_per_s"], one, two, "cpu_us_per_refresh")
            )
            continue
        rows.append(
            _row(name, pair["one"]["rps"], pair["two"]["rps"], pair["one"], pair["two"], "cpu_us_per_op")
        )
    print(table(rows))
    return {"gateway": gateway, "refresh": refreshes}


def _row(
    name: str, one: float, two: float, first: dict[str, Any], second: dict[str, Any], cpu: str
) -> dict[str, object]:
    return {
        "operation": name,
        "1 replica /s": one,
        "2 replicas /s": two,
        "ratio": round(two / one, 2) if one else 0,
        "CPU µs/op, 1": _shown(first[cpu]),
        "CPU µs/op, 2": _shown(second[cpu]),
    }


def _shown(cpu: int | dict[str, int]) -> str:
    """CPU per operation: its total, and by service where there are several."""
    if isinstance(cpu, int):
        return str(cpu)
    busy = {service: us for service, us in cpu.items() if us >= 20}  # idle services' timers aside
    return f"{sum(cpu.values())} (" + ", ".join(f"{s} {us}" for s, us in busy.items()) + ")"

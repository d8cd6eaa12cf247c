"""Execute benchmark: the engine's overhead on ``POST /v1/tools/execute``, loopback only.

Processes: Valkey and nats-server (embedded binaries), the four services
(``python -m services.<name>``) with hooli loaded in the executor, and this driver.
The tool is ``Hooli.ReticulateSplines`` (an OAuth2 tool that returns at once); the
user's token is stored beforehand, valid for hours, so every call takes the full
path: resolve, provider lookup, token read and decrypt, context, call, answer.

Baseline, in the same run: the same tool function called directly with a
``ToolContext`` (no engine). Both at 1 and at ``--concurrency`` concurrent clients;
overhead = engine p50 - direct p50. A second row per level sends the same request to
the executor over NATS (no gateway), to show which side the time is spent on.

The floor, in the same rounds (``bench/floor.py``): a raw nats-py request to a raw nats-py echo
(what the NATS-only row cannot go below) and an HTTP GET to a pure ASGI app doing that request
(what the HTTP row cannot go below); each engine row reports its p50 over the matching floor's.
Each phase's calls are split into ``--rounds`` loads and the five kinds of call take turns, so a
slow stretch of a shared machine slows the floor and the engine alike.

Run: ``python -m bench execute`` (``-- --requests N --concurrency C``). Numbers, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import nats
import yaml
from arcade_core.schema import ToolAuthorizationContext
from arcade_tdk import ToolContext

from bench.common import summarize_ms, table
from bench.floor import BODY, SUBJECT, companion
from bench.profile import print_services, profiled
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.bus.sealing import BusSeal
from shared.contracts.execution import ExecuteTool
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore
from tools.launcher import embedded

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "vkbenchx"
USER = "bench-user"


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench execute")
    parser.add_argument("--requests", type=int, default=3000, help="measured calls per phase")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="each phase's calls split into this many loads, the floor's and the engine's in turn",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="one more HTTP run at 1 client with py-spy on the gateway and the executor: CPU per call "
        "and where it goes (bench/profile.py); the collapsed stacks are kept in DIR if given",
    )
    return parser.parse_args(argv)


def _config(port: int, root_key: str) -> dict[str, Any]:
    nowhere = "http://127.0.0.1:9/oauth"  # never called: the token is valid for the whole run
    provider = {
        "id": "hooli",
        "type": "oauth2",
        "client_id": "bench",
        "client_secret": "bench",
        "oauth2": {
            "authorize_request": {"endpoint": f"{nowhere}/authorize"},
            "token_request": {"endpoint": f"{nowhere}/token"},
        },
    }
    return {
        "api": {"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
        "security": {
            "root_keys": [{"id": "k1", "value": root_key, "default": True}],
            "bus_key": f"bus-{root_key}",
            "webhook_keys": [{"id": "w1", "value": f"webhook-{root_key}", "default": True}],
            "allow_private_targets": True,
        },
        "auth": {"providers": [provider], "verification": {"mode": "unsafe_skip"}},
        "tools": {"toolkits": ["tests.support.toolkits.hooli"], "directors": []},
    }


@contextlib.contextmanager
def engine_stack(
    home: Path,
    root_key: str,
    api_key: str,
    extra: dict[str, Any] | None = None,
    *,
    executors: int = 1,
    pids: dict[str, int] | None = None,
) -> Iterator[tuple[str, str, str]]:
    """Start NATS, Valkey and the engine; yield (base URL, Redis URL, NATS URL).

    ``extra``: top-level engine.yaml sections added to this benchmark's (bench/mcp.py's gateways).
    ``executors``: how many executor replicas (bench/scheduled.py's).
    ``pids``: filled with each service's process id, for the profiler.
    """
    procs: list[subprocess.Popen[bytes]] = []
    try:
        nats_port, redis_port, api_port = embedded.free_port(), embedded.free_port(), embedded.free_port()
        procs.append(embedded.start_nats(nats_port, home / "nats"))
        procs.append(embedded.start_valkey(redis_port, home / "redis", persistent=False))
        (home / "engine.yaml").write_text(yaml.safe_dump(_config(api_port, root_key) | (extra or {})))
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VALETKEY_")},
            "VALETKEY_CONFIG": str(home / "engine.yaml"),
            "VALETKEY_API_KEY": api_key,
            "VALETKEY_KEY_PREFIX": PREFIX,
            "VALETKEY_LOG_LEVEL": "WARNING",
            "NATS_URL": f"nats://127.0.0.1:{nats_port}",
            "REDIS_URL": redis_url,
        }
        services = [*subjects.SERVICES, *["executor"] * (executors - 1)]
        for n, service in enumerate(services):  # /v1/health waits for every one of them
            name = service if n < len(subjects.SERVICES) else f"{service}-{n}"
            log = (home / f"{name}.log").open("wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=env, stdout=log, stderr=log
            )
            procs.append(proc)
            if pids is not None:
                pids[name] = proc.pid
        base = f"http://127.0.0.1:{api_port}"
        _wait_healthy(base, api_key)
        yield base, redis_url, env["NATS_URL"]
    finally:
        for proc in reversed(procs):
            embedded.stop(proc)


def _wait_healthy(base: str, api_key: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/v1/health", headers={"Authorization": api_key}).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("engine not healthy")


async def _store_token(redis_url: str, root_key: str) -> str:
    redis = create_redis(redis_url)
    store = TokenStore(redis, Cipher([RootKey("k1", root_key, True)]), RefreshPolicy(), prefix=PREFIX)
    now = datetime.now(UTC)
    token = f"bench-token-{secrets.token_hex(16)}"
    stored = StoredToken(
        access_token=token, issued_at=now, expires_at=now + timedelta(hours=6), scopes=["scope1", "scope2"]
    )
    await store.put(USER, "hooli", stored)
    await redis.aclose()
    return token


@dataclass
class Timed:
    """Latencies of one kind of call, gathered over one or more loads, and the time they took."""

    samples: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    def summary(self) -> dict[str, Any]:
        rps = round(len(self.samples) / self.elapsed, 1) if self.elapsed else 0.0
        return {**summarize_ms(self.samples), "rps": rps}


async def timed(call: Callable[[], Awaitable[None]], requests: int, concurrency: int, into: Timed) -> None:
    """``requests`` calls spread over ``concurrency`` workers, their latencies added to ``into``."""
    per_worker = max(1, requests // concurrency)

    async def worker() -> None:
        for _ in range(per_worker):
            started = time.perf_counter()
            await call()
            into.samples.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    into.elapsed += time.perf_counter() - began


async def measure(call: Callable[[], Awaitable[None]], requests: int, concurrency: int) -> dict[str, Any]:
    """``requests`` calls spread over ``concurrency`` workers; per-call latency and throughput."""
    gathered = Timed()
    await timed(call, requests, concurrency, gathered)
    return gathered.summary()


async def in_rounds(
    calls: dict[str, Callable[[], Awaitable[None]]], requests: int, concurrency: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """Each call's ``requests`` split into ``rounds`` loads run in turn (a, b, c, a, b, c, ...): a
    slow stretch of a shared machine falls on every call alike, so their ratios hold still."""
    gathered = {label: Timed() for label in calls}
    for _ in range(rounds):
        for label, call in calls.items():
            await timed(call, max(1, requests // rounds), concurrency, gathered[label])
    return {label: found.summary() for label, found in gathered.items()}


def _of_floor(measured: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    """The floor's p50 and req/s in the same rounds, and the engine's against them."""
    return {
        "floor_p50_ms": floor["p50_ms"],
        "p50_of_floor": round(measured["p50_ms"] / floor["p50_ms"], 2) if floor["p50_ms"] else 0.0,
        "floor_rps": floor["rps"],
        "rps_of_floor": round(measured["rps"] / floor["rps"], 2) if floor["rps"] else 0.0,
    }


def _row(clients: int, label: str, baseline: dict[str, Any], measured: dict[str, Any]) -> dict[str, Any]:
    return {
        "clients": clients,
        "path": label,
        "direct_p50_ms": baseline["p50_ms"],
        "direct_p99_ms": baseline["p99_ms"],
        "p50_ms": measured["p50_ms"],
        "p99_ms": measured["p99_ms"],
        "overhead_p50_ms": round(measured["p50_ms"] - baseline["p50_ms"], 3),
        "overhead_p99_ms": round(measured["p99_ms"] - baseline["p99_ms"], 3),
        "rps": measured["rps"],
        "n": measured["n"],
    }


async def _run(
    args: argparse.Namespace, urls: tuple[str, str, str], api_key: str, token: str, seal: BusSeal
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from tests.support.toolkits.hooli.tools import reticulate_splines

    base, nats_url, floor_url = urls
    nc = await nats.connect(nats_url)

    context = ToolContext(authorization=ToolAuthorizationContext(token=token, user_info={}), user_id=USER)
    body = {"tool_name": "Hooli.ReticulateSplines", "input": {"num_splines": 3}, "user_id": USER}
    command, rpc = ExecuteTool.model_validate(body), RpcClient(nc, seal=seal)
    # aiohttp, as in the gateway benchmark: httpx's own client CPU (~1-2 ms a request under
    # concurrency) would be counted as the engine's overhead.
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    headers = {"Authorization": api_key}
    async with aiohttp.ClientSession(base_url=base, headers=headers, connector=connector) as http:

        async def engine() -> None:
            async with http.post("/v1/tools/execute", json=body) as response:
                payload = await response.json()
                if response.status != 200 or not payload["success"]:
                    raise RuntimeError(f"execute failed: {response.status} {str(payload)[:300]}")

        async def executor_only() -> None:  # the executor over NATS, without the gateway: where the time goes
            await rpc.call_raw(subjects.TOOLS_EXECUTE, command, timeout=30)

        async def direct() -> None:
            await reticulate_splines(context, 3)

        async def floor_nats() -> None:
            await nc.request(SUBJECT, BODY, timeout=30)

        async def floor_http() -> None:
            async with http.get(floor_url) as response:
                await response.read()

        await measure(engine, args.warmup, 1)
        rows = []
        calls: dict[str, Callable[[], Awaitable[None]]] = {
            "direct": direct,
            "HTTP floor": floor_http,
            "HTTP execute": engine,
            "NATS floor": floor_nats,
            "NATS only": executor_only,
        }
        for clients in (1, args.concurrency):
            found = await in_rounds(calls, args.requests, clients, args.rounds)
            for label, floor_label in (("HTTP execute", "HTTP floor"), ("NATS only", "NATS floor")):
                rows.append(
                    _row(clients, label, found["direct"], found[label])
                    | _of_floor(found[label], found[floor_label])
                )
        found = await _profile(engine, args.requests, args.pids, args.profile_out) if args.profile_out else {}
    await nc.close()
    return rows, found


PROFILED = ("gateway", "executor")


async def _profile(
    call: Callable[[], Awaitable[None]], requests: int, pids: dict[str, int], out: Path
) -> dict[str, Any]:
    """One more HTTP run at 1 client with py-spy on the gateway and the executor."""
    with profiled({name: pids[name] for name in PROFILED}, out) as profiles:
        load = await measure(call, requests, 1)
    return {
        "p50_ms": load["p50_ms"],
        "services": {
            name: {"cpu_us_per_request": p.per_request_us(load["n"]), "shares": p.shares}
            for name, p in profiles.items()
        },
    }


def main(argv: list[str]) -> dict[str, Any]:
    """Start the stack, measure, print a table; return the numbers for bench/results/execute.json."""
    args = _args(argv)
    root_key, api_key = secrets.token_urlsafe(32), f"vk_bench_{secrets.token_urlsafe(12)}"
    sys.path.insert(0, str(ROOT))  # the hooli test toolkit lives under tests/
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vk-bench-execute-")))
        args.pids = {}
        base, redis_url, nats_url = stack.enter_context(engine_stack(home, root_key, api_key, pids=args.pids))
        args.profile_out = None if args.profile is None else Path(args.profile or home / "profiles")
        floor_url = stack.enter_context(companion("bench.floor", nats_url, "/"))
        token = asyncio.run(_store_token(redis_url, root_key))
        seal = BusSeal(f"bus-{root_key}")
        rows, found = asyncio.run(_run(args, (base, nats_url, floor_url), api_key, token, seal))
    print(table(rows))
    print(
        "target (issue #19): HTTP execute p50 < 1 ms at 1 client; p50_of_floor is that p50 over the"
        " floor's HTTP p50 in the same rounds, which carries across machines"
    )
    if found:
        print(f"profile of HTTP execute at 1 client (p50 {found['p50_ms']} ms under py-spy):")
        print_services(found["services"])
    result = {
        "rows": rows,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
    }
    return result | ({"profile": found} if found else {})

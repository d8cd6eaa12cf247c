"""What one operation costs each service, the bus and Redis: the figures docs/scaling.md multiplies out.

On one engine of this process tree (``bench/gateway.py``'s stack: embedded NATS and Valkey, the real
OAuth server, every service as a process), each phase runs a known number of operations and reads,
before and after, every service's CPU time (``/proc/<pid>/stat``), the messages NATS carried (a
tester subscription on ``>`` counts them, JetStream's own API traffic included) and Valkey's
``used_memory``:

- ``status``: ``GET /v1/auth/status`` of a completed authorization;
- ``authorize``: ``POST /v1/tools/authorize`` for a user who holds the token;
- ``execute``: ``POST /v1/tools/execute`` of an in-process tool with the user's token;
- ``start``: ``POST /v1/auth/authorize`` left pending (also Redis bytes per pending flow);
- ``completion``: a whole flow (start, consent at the OAuth server, callback, long-poll answered).

Then Redis bytes per stored connection: ``--connections`` tokens written straight through the token
store (the write the authorizer and the refresher make), ``used_memory`` before and after.
Refresh and webhook costs come from ``bench refresh`` and ``bench webhooks``, which measure their
service's CPU per operation the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import nats
from redis.asyncio import Redis

from bench.common import table
from bench.loadgen import Target, run_load
from bench.profile import cpu_seconds
from bench.stacks import USER, complete_authorization, hot_reads, oauth_stack
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore
from tests.support.engine import Engine

PHASES = ("status", "authorize", "execute", "start", "completion")


class BusCounter:
    """Messages on the bus by subject family (the first two tokens), from a ``>`` subscription."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    async def count(self, msg: Any) -> None:
        self.seen[".".join(msg.subject.split(".")[:2])] += 1

    def take(self) -> Counter[str]:
        taken, self.seen = self.seen, Counter()
        return taken


async def _used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


def _cpu(engine: Engine) -> dict[str, float]:
    return {name: cpu_seconds(proc.pid) for name, proc in engine.procs.items()}


async def _phase(
    engine: Engine, bus: BusCounter, redis: Redis, run: Callable[[], Awaitable[int]]
) -> dict[str, Any]:
    """Run ``run`` (which returns how many operations it made) and what they cost."""
    await asyncio.sleep(0.5)  # let the previous phase's stragglers land before the counters are read
    bus.take()
    cpu_before, memory_before, started = _cpu(engine), await _used_memory(redis), time.perf_counter()
    operations = await run()
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)  # events relayed after the answer belong to the operation too
    cpu_after, memory_after = _cpu(engine), await _used_memory(redis)
    messages = bus.take()
    return {
        "operations": operations,
        "ops_per_s": round(operations / elapsed, 1),
        "cpu_us_per_op": {
            name: round((cpu_after[name] - cpu_before[name]) / operations * 1e6)
            for name in sorted(cpu_before)
        },
        "nats_messages_per_op": round(sum(messages.values()) / operations, 2),
        "nats_by_subject_per_op": {k: round(v / operations, 2) for k, v in messages.most_common(8)},
        "redis_bytes_per_op": round((memory_after - memory_before) / operations),
    }


async def _loaded(target: Target, duration: float) -> int:
    # No warm-up round: every request made inside the phase is one it counts.
    load = await run_load(target, concurrency=32, duration=duration, warmup=0.0)
    assert load["errors"] == 0, load
    return int(load["n"])


async def _engine_phases(engine: Engine, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    redis = create_redis(engine.env["REDIS_URL"])
    tester = await nats.connect(engine.tester_nats_url)
    bus = BusCounter()
    await tester.subscribe(">", cb=bus.count)
    timeout = aiohttp.ClientTimeout(total=70)
    results: dict[str, dict[str, Any]] = {}
    try:
        async with httpx.AsyncClient(timeout=30) as http, aiohttp.ClientSession(timeout=timeout) as timed:
            auth_id, _ = await complete_authorization(http, timed, engine, USER)
            reads = hot_reads(engine, auth_id)
            status, authorize = reads.values()
            execute = Target(
                "POST",
                f"{engine.base_url}/v1/tools/execute",
                authorize.headers,
                {"tool_name": "Hooli.ReticulateSplines", "input": {"num_splines": 1}, "user_id": USER},
            )

            async def starts() -> int:
                body = {"auth_requirement": {"id": "hooli", "oauth2": {"scopes": ["scope1"]}}}
                for i in range(args.starts):
                    answer = await http.post(
                        f"{engine.base_url}/v1/auth/authorize",
                        json={**body, "user_id": f"pending-{i}@example.com"},
                        headers=engine.headers,
                    )
                    answer.raise_for_status()
                return int(args.starts)

            async def completions() -> int:
                for i in range(args.flows):
                    await complete_authorization(http, timed, engine, f"flow-{i}@example.com")
                return int(args.flows)

            phases: dict[str, Callable[[], Awaitable[int]]] = {
                "status": lambda: _loaded(status, args.duration),
                "authorize": lambda: _loaded(authorize, args.duration),
                "execute": lambda: _loaded(execute, args.duration),
                "start": starts,
                "completion": completions,
            }
            for name in PHASES:
                results[name] = await _phase(engine, bus, redis, phases[name])
    finally:
        await tester.close()
        await redis.aclose()
    return results


async def _bytes_per_connection(redis_url: str, count: int) -> dict[str, Any]:
    """Valkey's ``used_memory`` growth per connection over ``count`` tokens written by the store."""
    redis = create_redis(redis_url)
    store = TokenStore(
        redis, Cipher([RootKey("k1", secrets.token_urlsafe(32), True)]), RefreshPolicy(), prefix="cap"
    )
    now = datetime.now(UTC)
    semaphore = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        token = StoredToken(
            access_token=f"ya29.{secrets.token_urlsafe(120)}",  # a Google access token's length
            refresh_token=f"1//{secrets.token_urlsafe(75)}",
            issued_at=now,
            expires_at=now + timedelta(hours=1),
            scopes=["openid", "email", "https://www.googleapis.com/auth/gmail.send"],
        )
        async with semaphore:
            await store.put(f"user-{i}@example.com", "google", token)

    try:
        before = await _used_memory(redis)
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = time.perf_counter() - started
        after = await _used_memory(redis)
        return {
            "connections": count,
            "bytes_per_connection": round((after - before) / count),
            "writes_per_s": round(count / elapsed),
        }
    finally:
        await redis.aclose()


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench capacity")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per hot phase")
    parser.add_argument("--flows", type=int, default=100, help="whole authorizations measured")
    parser.add_argument("--starts", type=int, default=1000, help="authorizations started and left pending")
    parser.add_argument("--connections", type=int, default=100_000, help="tokens stored for bytes/connection")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, oauth_stack(Path(tmp)) as (engine, _):
        phases = asyncio.run(_engine_phases(engine, args))
        storage = asyncio.run(_bytes_per_connection(engine.env["REDIS_URL"], args.connections))
    services = sorted(next(iter(phases.values()))["cpu_us_per_op"])
    rows = [
        {
            "operation": name,
            "ops/s": r["ops_per_s"],
            **{f"{s} µs": r["cpu_us_per_op"][s] for s in services},
            "NATS msgs": r["nats_messages_per_op"],
            "Redis B": r["redis_bytes_per_op"],
        }
        for name, r in phases.items()
    ]
    print(table(rows))
    for name, r in phases.items():
        print(f"  {name}: NATS messages by subject per operation: {r['nats_by_subject_per_op']}")
    print(
        f"Redis: {storage['bytes_per_connection']} bytes per stored connection over "
        f"{storage['connections']} connections ({storage['writes_per_s']} writes/s through the store); "
        f"{phases['start']['redis_bytes_per_op']} bytes per pending flow"
    )
    return {"phases": phases, "storage": storage}

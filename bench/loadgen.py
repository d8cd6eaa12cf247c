"""A closed-loop HTTP load generator on aiohttp: N concurrent clients for a fixed time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.common import summarize_ms


@dataclass(frozen=True)
class Target:
    method: str
    url: str
    headers: dict[str, str]
    json: Any = None


async def _client(
    session: aiohttp.ClientSession, target: Target, until: float, out: list[float], errors: list[int]
) -> None:
    while (start := time.perf_counter()) < until:
        async with session.request(
            target.method, target.url, headers=target.headers, json=target.json
        ) as response:
            await response.read()
            if response.status >= 400:
                errors.append(response.status)
        out.append(time.perf_counter() - start)


async def run_load(
    target: Target, *, concurrency: int, duration: float, warmup: float = 1.0
) -> dict[str, Any]:
    """Requests/s and latency percentiles for ``concurrency`` clients over ``duration`` seconds."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(
            *(_client(session, target, time.perf_counter() + warmup, [], []) for _ in range(concurrency))
        )
        samples: list[float] = []
        errors: list[int] = []
        started = time.perf_counter()
        until = started + duration
        await asyncio.gather(*(_client(session, target, until, samples, errors) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"rps": round(len(samples) / elapsed, 1), "errors": len(errors), **summarize_ms(samples)}

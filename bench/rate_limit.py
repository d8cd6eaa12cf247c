"""What ``api.rate_limit`` costs the gateway: the hot reads on an engine counting every request per
API key and per user in Redis, against the same engine without a rate limit, in one run.

Two engines of ``bench/gateway.py``'s stack (each its own NATS, Valkey and OAuth server), limits
so high that nothing is refused; their hot reads (``GET /v1/auth/status`` of a completed
authorization, counted per key; ``POST /v1/tools/authorize`` with the token held, counted per key
and per user) take turns over a few rounds with 50 clients. Reported: req/s and p50/p99 of each,
and the limited engine's req/s over the other's, overall and by round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.common import table
from bench.loadgen import Target, run_load
from bench.stacks import USER, complete_authorization, hot_reads, oauth_stack
from tests.support.engine import Engine

UNLIMITED = ", no rate limit"
RATE_LIMIT = {"rate_limit": {"limit": 10**9, "time_unit": "m", "user_limit": 10**9}}


async def _targets(limited: Engine, plain: Engine) -> dict[str, Target]:
    async with httpx.AsyncClient(timeout=30) as http, aiohttp.ClientSession() as timed:
        counted, _ = await complete_authorization(http, timed, limited, USER)
        uncounted, _ = await complete_authorization(http, timed, plain, USER)
    return {**hot_reads(limited, counted), **hot_reads(plain, uncounted, UNLIMITED)}


async def _rounds(targets: dict[str, Target], duration: float, rounds: int) -> list[dict[str, Any]]:
    return [
        {name: await run_load(t, concurrency=50, duration=duration) for name, t in targets.items()}
        for _ in range(rounds)
    ]


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench rate_limit")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per target and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stacks:
        limited, _ = stacks.enter_context(oauth_stack(Path(tmp) / "limited", api=RATE_LIMIT))
        plain, _ = stacks.enter_context(oauth_stack(Path(tmp) / "plain"))
        targets = asyncio.run(_targets(limited, plain))
        by_round = asyncio.run(_rounds(targets, args.duration, args.rounds))
    names = [name for name in targets if not name.endswith(UNLIMITED)]
    rps = {name: sum(r[name]["rps"] for r in by_round) / len(by_round) for name in targets}
    ratio = {name: round(rps[name] / rps[name + UNLIMITED], 3) for name in names}
    rows = [
        {
            "target": name,
            "req/s": round(rps[name], 1),
            "p50 ms": by_round[-1][name]["p50_ms"],
            "p99 ms": by_round[-1][name]["p99_ms"],
        }
        for name in targets
    ]
    print(table(rows))
    by = [{n: round(r[n]["rps"] / r[n + UNLIMITED]["rps"], 3) for n in names} for r in by_round]
    print(f"req/s with the rate limit over req/s without: {ratio}\n  by round: {by}")
    return {"ratio": ratio, "by_round": by, "rounds": by_round}

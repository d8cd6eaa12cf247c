"""Completion: the engine's share of callback -> answer, the provider's own time taken out.

A flow (``bench/stacks.py``: ``consented``, then ``timed_callback``, as ``complete_authorization``
does): start an authorization, consent at the real OAuth server (oidc-provider), then, timed, send
the callback to the gateway while a ``wait=`` long-poll waits; the total is callback sent ->
long-poll answered, as the client sees it (``answer_and_page``: until the callback's page is read
too, whichever comes last, as ``bench gateway`` reports it).
Inside it the authorizer exchanges the code and reads user info at the provider, and times each
call on the wire itself (from its request's headers sent to the answer's last byte read: the
network and the provider, not the engine's request building or parsing); it logs both times per
callback at DEBUG (``authorization.provider_timed``, by authorization id), so the services run at
DEBUG here. Per flow:

    engine's share = total - (exchange time + user-info time)

``--proxy`` puts a timing proxy (``bench/provider_timing.py``, a process of its own) in front of
the token and user-info endpoints as well, and reports the share it gives beside the engine's:
the proxy's own hops (into it and out of it, twice) are not in its upstream times, so they count
as the engine's there, an over-estimate; the bench estimates a request's hop through it (pairs of
requests from this process to the OAuth server's discovery document, through it and straight,
alternating).

Reported: total, provider and engine's share at p50/p99 (and mean) over ``--flows`` flows one at a
time (with the authorizer's own part of it: its handling of the callback, from its ``rpc.handled``
line, less the provider's time), then (``--concurrency C``) as many flows again, their callbacks
C at a time (the C flows consented to first, then their callbacks sent together); the Valkey
commands per flow
(``INFO commandstats`` over the measured flows, the whole flow: start, long-poll reads and the
callback); and the machine's load average at the start and the end, since it is shared.

Valkey keeps no append-only file, as in the other benchmarks (``--redis-fsync`` for `make up`'s).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import redis

from bench.common import summarize_ms, table
from bench.provider_timing import timing_proxy, timings
from bench.stacks import consented, oauth_stack, timed_callback
from tests.support.engine import Engine


async def _flows(
    engine: Engine, users: list[str], concurrency: int
) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """Each user's flow; seconds from callback sent to the long-poll's answer, and to both that
    answer and the callback's page, by user, and each user's authorization id. In batches of
    ``concurrency``: the batch's flows are consented to first (untimed: that browser work is this
    process's), then their callbacks sent together, each timed on its own."""
    timeout = aiohttp.ClientTimeout(total=70)
    elapsed: dict[str, float] = {}
    with_page: dict[str, float] = {}
    ids: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=30) as http, aiohttp.ClientSession(timeout=timeout) as timed:
        for first in range(0, len(users), concurrency):
            batch = users[first : first + concurrency]
            ready = [await consented(http, engine, user) for user in batch]
            ids |= {user: auth_id for user, (auth_id, _) in zip(batch, ready, strict=True)}
            gc.collect()  # the batch's timed parts turn collections off, but only each its own
            answers: list[list[float]] = [[] for _ in batch]
            seconds = await asyncio.gather(
                *(
                    timed_callback(timed, engine, *flow, answered)
                    for flow, answered in zip(ready, answers, strict=True)
                )
            )
            elapsed |= dict(zip(batch, (a[0] for a in answers), strict=True))
            with_page |= dict(zip(batch, seconds, strict=True))
    return elapsed, with_page, ids


def provider_timed(engine: Engine) -> dict[str, float]:
    """Seconds at the provider (code exchange + user info) per authorization id, as the
    authorizer timed them (its ``authorization.provider_timed`` lines)."""
    spent: dict[str, float] = {}
    for line in engine.log_path("authorizer").read_text(errors="replace").splitlines():
        if "authorization.provider_timed" not in line:
            continue
        event = json.loads(line)
        if event.get("exchange_ms") is not None and event.get("user_info_ms") is not None:
            spent[event["authorization_id"]] = (event["exchange_ms"] + event["user_info_ms"]) / 1000
    return spent


def authorizer_own(engine: Engine, spent: dict[str, float]) -> dict[str, float]:
    """Seconds of the authorizer's own per callback, the provider's taken out: its ``rpc.handled``
    line for the ``OAuthCallback`` right after the flow's ``provider_timed`` line (so only with
    one callback at a time), by authorization id."""
    own: dict[str, float] = {}
    last = None
    for line in engine.log_path("authorizer").read_text(errors="replace").splitlines():
        if "authorization.provider_timed" in line:
            last = json.loads(line)["authorization_id"]
        elif last in spent and '"rpc.handled"' in line and '"OAuthCallback"' in line:
            own[last] = json.loads(line)["ms"] / 1000 - spent[last]
            last = None
    return own


def by_proxy(users: dict[str, str], upstream: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    """Seconds at the provider per authorization id, as the timing proxy saw them (by user)."""
    spent: dict[str, float] = {}
    for user, auth_id in users.items():
        token, info = upstream["token"].get(user), upstream["user_info"].get(user)
        if token and info:
            spent[auth_id] = sum(token) + sum(info)
    return spent


def shares(elapsed: dict[str, float], ids: dict[str, str], upstream: dict[str, float]) -> dict[str, Any]:
    """Total, provider and engine's share of each flow (by user), summarized; the flows whose
    provider time is unknown are counted, not guessed."""
    total, provider, engine = [], [], []
    unmatched = 0
    for user, seconds in elapsed.items():
        spent = upstream.get(ids[user])
        if spent is None:
            unmatched += 1
            continue
        total.append(seconds)
        provider.append(spent)
        engine.append(seconds - spent)
    return {
        "total": summarize_ms(total),
        "provider": summarize_ms(provider),
        "engine_share": summarize_ms(engine),
        "unmatched": unmatched,
    }


async def proxy_cost(direct: str, proxied: str, requests: int) -> dict[str, float]:
    """What one request through the timing proxy costs over the same request straight to the OAuth
    server (its discovery document), from this process: requests alternate, the difference is
    taken pair by pair. A flow makes two such requests; an estimate, the engine's client is not
    this one."""
    path = "/.well-known/openid-configuration"
    pairs: list[float] = []
    async with aiohttp.ClientSession() as session:

        async def once(url: str) -> float:
            started = time.perf_counter()
            async with session.get(url + path) as answer:
                await answer.read()
            return time.perf_counter() - started

        for _ in range(requests):
            pairs.append(await once(proxied) - await once(direct))
    return {"median_ms": round(statistics.median(pairs) * 1000, 3), "n": len(pairs)}


def _commands(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _per_flow(before: dict[str, int], after: dict[str, int], flows: int) -> dict[str, float]:
    calls = {name: after[name] - before.get(name, 0) for name in after}
    return {name: round(n / flows, 2) for name, n in sorted(calls.items()) if n}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _rows(results: dict[str, dict[str, Any]]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for label, result in results.items():
        names = ("total", "provider", "engine_share", "answer_and_page", "authorizer_own")
        parts = [(label, p, result[p]) for p in names if p in result]
        if "through_proxy" in result:
            proxied = result["through_proxy"]
            parts += [(f"{label}, proxy", p, proxied[p]) for p in ("provider", "engine_share")]
        for run, part, s in parts:
            rows.append(
                {
                    "run": run,
                    "part": part,
                    "p50 ms": s["p50_ms"],
                    "p99 ms": s["p99_ms"],
                    "mean ms": s["mean_ms"],
                }
            )
    return rows


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench completion")
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10, help="flows before the measured ones, not counted")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="also run --flows flows this many at a time (0: not)"
    )
    parser.add_argument(
        "--log-level",
        default="DEBUG",
        help="the services' log level (DEBUG: the provider's times are logged)",
    )
    parser.add_argument(
        "--redis-fsync", action="store_true", help="Valkey fsyncing every write, as `make up`"
    )
    parser.add_argument(
        "--proxy", action="store_true", help="also time the provider through a timing proxy, to compare"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> dict[str, Any]:
    args = _arguments(argv)
    result: dict[str, Any] = {"load_at_start": _load(), "flows": args.flows, "runs": {}}
    run = f"{int(time.time()) % 100000}"
    proxying = timing_proxy if args.proxy else None
    with (
        tempfile.TemporaryDirectory() as tmp,
        oauth_stack(Path(tmp), args.log_level, args.redis_fsync, provider_proxy=proxying) as (engine, oauth),
    ):
        valkey = redis.Redis.from_url(engine.env["REDIS_URL"])
        asyncio.run(_flows(engine, [f"warm-{run}-{i}" for i in range(args.warmup)], 1))
        for level in [1] + ([args.concurrency] if args.concurrency > 1 else []):
            users = [f"c{level}-{run}-{i}" for i in range(args.flows)]
            before = _commands(valkey)
            elapsed, with_page, ids = asyncio.run(_flows(engine, users, level))
            after = _commands(valkey)
            spent = provider_timed(engine)
            found = shares(elapsed, ids, spent)
            if level == 1:
                mine = authorizer_own(engine, spent)
                found["authorizer_own"] = summarize_ms([mine[i] for i in ids.values() if i in mine])
            found["answer_and_page"] = summarize_ms(list(with_page.values()))
            found["valkey_commands_per_flow"] = _per_flow(before, after, len(users))
            if args.proxy:
                found["through_proxy"] = shares(elapsed, ids, by_proxy(ids, timings(_proxy_origin(engine))))
            result["runs"][f"{level} at a time"] = found
        if args.proxy:
            cost = asyncio.run(proxy_cost(_origin(oauth.issuer), _proxy_origin(engine), 200))
            result["proxy_cost_per_request"] = cost
    result["load_at_end"] = _load()
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    print(table(_rows(result["runs"])))
    for label, r in result["runs"].items():
        print(f"{label}: Valkey commands per flow (the whole flow): {r['valkey_commands_per_flow']}")
        if r["unmatched"]:
            print(f"  {r['unmatched']} flows without both provider times, left out")
    print(f"load average at start {result['load_at_start']}, at end {result['load_at_end']} (2 cores)")
    print("engine's share = total - the provider's exchange and user-info time, as the authorizer timed them")
    print("authorizer_own = the authorizer's handling of the callback (rpc.handled) - that provider time")
    if "proxy_cost_per_request" in result:
        cost = result["proxy_cost_per_request"]
        print(
            "proxy: the share through the timing proxy counts its hops as the engine's; a request "
            f"through it costs ~{cost['median_ms']} ms more than straight to the server (median of "
            f"{cost['n']} alternating pairs), two per flow"
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _proxy_origin(engine: Engine) -> str:
    """The timing proxy's origin, as the provider entry names it."""
    endpoint: str = engine.config["auth"]["providers"][0]["oauth2"]["token_request"]["endpoint"]
    return _origin(endpoint)

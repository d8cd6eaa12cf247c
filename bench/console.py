"""Render time of the console's pages with many stored connections (issue 17, "Measure").

The whole engine runs as processes on a private nats-server and a non-persistent Valkey;
``--connections`` tokens (100,000 by default) are written straight into its store, then one
client signed in through the sign-in form asks for each page in turn and times the full HTTP
answer: the connections page (first page, and one user's search), and the overview (five
count requests and five health pings over NATS). The pages read one page of 25 from Redis
whatever the total, so their time should not grow with it; ``--connections 1000`` shows that.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import summarize_ms, table
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore
from tests.support.engine import make_engine
from tests.support.servers import local_server

PROVIDER = "github"


async def seed(store: TokenStore, count: int) -> float:
    """``count`` day-long tokens (none comes due during the run); returns seconds taken."""
    started, semaphore = time.monotonic(), asyncio.Semaphore(64)
    now = datetime.now(UTC)

    async def one(i: int) -> None:
        token = StoredToken(
            access_token=f"at-{i}",
            refresh_token=f"rt-{i}",
            issued_at=now,
            expires_at=now + timedelta(days=1),
            scopes=["repo", "read:user"],
        )
        async with semaphore:
            await store.put(f"user-{i}@example.com", PROVIDER, token)

    await asyncio.gather(*(one(i) for i in range(count)))
    return time.monotonic() - started


async def timed(client: httpx.AsyncClient, path: str, rounds: int) -> dict[str, float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await client.get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return summarize_ms(samples)


async def measure(base_url: str, api_key: str, rounds: int, count: int) -> list[dict[str, object]]:
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=60) as client:
        page = await client.get("/console/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        signed = await client.post("/console/sign-in", data={"csrf": csrf.group(1), "api_key": api_key})
        assert signed.status_code == 303, signed.text
        paths = {
            "connections, first page": "/console/connections",
            "connections, one user": f"/console/connections?user_id=user-{count // 2}@example.com",
            "connections, page at the end": f"/console/connections?offset={max(0, count - 25)}",
            "overview": "/console",
            "authorizations (in flight, failed)": "/console/authorizations",
            "executions": "/console/executions",
            "webhooks": "/console/webhooks",
        }
        for path in paths.values():  # warm up: first requests compile templates and open connections
            await timed(client, path, 3)
        return [{"page": name, **await timed(client, path, rounds)} for name, path in paths.items()]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="vk-bench-console-"))
    with (
        local_server("nats", home / "nats") as nats,
        local_server("redis", home / "redis", persistent=False) as redis,
    ):
        engine = make_engine(home / "engine", nats_url=nats.url, redis_url=redis.url, check_responses=False)
        engine.config["auth"]["providers"] = [
            {"id": PROVIDER, "provider_id": "github", "client_id": "c", "client_secret": "s"}
        ]
        engine.env["VALETKEY_LOG_LEVEL"] = "INFO"
        root = engine.config["security"]["root_keys"][0]["value"]
        client = create_redis(redis.url)
        store = TokenStore(
            client,
            Cipher([RootKey("k1", root, default=True)]),
            RefreshPolicy(),
            prefix=engine.env["VALETKEY_KEY_PREFIX"],
        )
        seed_s = await seed(store, args.connections)
        await client.aclose()
        engine.start()
        try:
            rows = await measure(engine.base_url, engine.api_key, args.rounds, args.connections)
        finally:
            engine.stop()
    print(table(rows))
    return {"connections": args.connections, "seed_s": round(seed_s, 1), "rounds": args.rounds, "pages": rows}


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench console")
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    return asyncio.run(run(parser.parse_args(argv)))

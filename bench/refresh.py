"""Refresh benchmark: 100,000 tokens coming due against a local token endpoint, loopback only.

Processes: Valkey and nats-server (embedded binaries), our token endpoint
(``bench/local/token_endpoint.py``, its own process), one real refresher
(``python -m services.token_refresher``), and this driver, which seeds the store and
measures from outside: lateness is the arrival of each refresh token at the endpoint
minus the moment it was due, so it covers claim, lock, HTTP and queueing.

Phases:
1. baseline: a bare httpx loop (same concurrency) against the same endpoint -> requests/s;
2. spread: N tokens due evenly over ``--spread`` seconds (120 by default; ``--full`` = 600 s,
   the issue's 10 minutes) -> lateness p50/p99, tokens expired unrefreshed, peak RSS;
3. burst: ``--burst`` tokens all due at one moment -> the refresher's capacity in refreshes/s,
   compared with the baseline.

Time compression: all ``--tokens`` are stored with due moments spread over ``--spread`` (600 s,
the issue's 10 minutes), so the schedule size and the arrival rate are the real ones; by default
only the first ``--window`` (120 s) is run and counted. ``--full`` runs the whole 10 minutes.

Run: ``python -m bench refresh`` or ``python -m bench refresh -- --full``. Numbers, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.common import percentile, table
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore
from tools.launcher import embedded

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "vkbench"
PROVIDER = "bench"
CLIENT = ("bench-client", "bench-secret")
SEED_RATE_GUESS = 800.0  # tokens/s the seeder is assumed to manage when choosing the first due moment


@dataclass
class Stack:
    """Every process the benchmark started, and where to reach them."""

    home: Path
    redis_url: str
    nats_url: str
    endpoint_url: str
    procs: list[subprocess.Popen[bytes]]
    root_key: str

    def stop(self) -> None:
        for proc in reversed(self.procs):
            embedded.stop(proc)


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench refresh")
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--spread", type=float, default=600.0, help="seconds over which tokens come due")
    parser.add_argument(
        "--window", type=float, default=120.0, help="run only the first seconds of the spread"
    )
    parser.add_argument("--full", action="store_true", help="run the whole spread (10 minutes by default)")
    parser.add_argument("--burst", type=int, default=5_000, help="tokens due at once (capacity phase)")
    parser.add_argument("--margin", type=float, default=30.0, help="refresh margin: due -> expiry, seconds")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.full or args.window > args.spread:
        args.window = args.spread
    return args


@contextlib.contextmanager
def stack() -> Iterator[Stack]:
    home = Path(tempfile.mkdtemp(prefix="vk-bench-refresh-"))
    procs: list[subprocess.Popen[bytes]] = []
    running = Stack(home, "", "", "", procs, secrets.token_urlsafe(32))
    try:
        redis_port, nats_port = embedded.free_port(), embedded.free_port()
        # Not persistent: the default engine fsyncs every write (appendfsync always), which would
        # measure the disk; the benchmark measures the refresher.
        procs.append(embedded.start_valkey(redis_port, home / "redis", persistent=False))
        procs.append(embedded.start_nats(nats_port, home / "nats"))
        running.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        running.nats_url = f"nats://127.0.0.1:{nats_port}"
        endpoint = subprocess.Popen(
            [sys.executable, "-m", "bench.local.token_endpoint", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        procs.append(endpoint)
        assert endpoint.stdout is not None
        running.endpoint_url = f"http://127.0.0.1:{int(endpoint.stdout.readline())}"
        yield running
    finally:
        running.stop()


def _config(run: Stack, margin: float) -> Path:
    refresh = {
        "endpoint": f"{run.endpoint_url}/token",
        "auth_method": "client_secret_basic",
        "params": {"grant_type": "refresh_token", "refresh_token": "{{refresh_token}}"},
    }
    provider = {
        "id": PROVIDER,
        "client_id": CLIENT[0],
        "client_secret": CLIENT[1],
        "oauth2": {
            "authorize_request": {
                "endpoint": "http://127.0.0.1:9/authorize",
                "params": {"response_type": "code"},
            },
            "token_request": {"endpoint": f"{run.endpoint_url}/token"},
            "refresh_token_request": refresh,
        },
    }
    config = {
        "security": {
            "root_keys": [{"id": "k1", "value": run.root_key, "default": True}],
            "bus_key": f"bus-{run.root_key}",
            "webhook_keys": [{"id": "w1", "value": f"webhook-{run.root_key}", "default": True}],
            "allow_private_targets": True,  # the local OAuth server
        },
        "auth": {"providers": [provider], "verification": {"mode": "unsafe_skip"}},
        "refresh": {"margin_seconds": margin, "lifetime_fraction": 0.25},
    }
    path = run.home / "engine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_refresher(run: Stack, config: Path, concurrency: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VALETKEY_")},
        "VALETKEY_CONFIG": str(config),
        "VALETKEY_KEY_PREFIX": PREFIX,
        "VALETKEY_LOG_JSON": "true",
        "VALETKEY_REFRESHER_CONCURRENCY": str(concurrency),
        "NATS_URL": run.nats_url,
        "REDIS_URL": run.redis_url,
    }
    log = (run.home / "token_refresher.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.token_refresher"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while b"refresher.started" not in (run.home / "token_refresher.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((run.home / "token_refresher.log").read_text()[-3000:])
        time.sleep(0.05)
    run.procs.append(proc)
    return proc


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def baseline(url: str, concurrency: int, seconds: float) -> float:
    """Requests/s of a bare httpx loop posting refresh forms to the endpoint."""
    auth = "Basic " + base64.b64encode(f"{CLIENT[0]}:{CLIENT[1]}".encode()).decode()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    done = 0
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
        stop = time.monotonic() + seconds

        async def worker(n: int) -> None:
            nonlocal done
            while time.monotonic() < stop:
                form = {"grant_type": "refresh_token", "refresh_token": f"baseline-{n}-{done}"}
                response = await client.post(url, data=form, headers={"Authorization": auth})
                response.raise_for_status()
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return done / (time.monotonic() - started)


async def seed(store: TokenStore, tag: str, dues: list[datetime], margin: float) -> float:
    """Store one token per due moment (refresh token ``<tag><i>``); returns seconds taken."""
    started = time.monotonic()
    semaphore = asyncio.Semaphore(64)  # the shared Redis client pools at most 100 connections

    async def one(i: int, due: datetime) -> None:
        expires = due + timedelta(seconds=margin)
        token = StoredToken(
            access_token=f"at-{tag}{i}",
            refresh_token=f"{tag}{i}",
            issued_at=expires - timedelta(hours=1),  # an hour-long token: the fixed margin applies
            expires_at=expires,
        )
        async with semaphore:
            await store.put(f"user-{tag}{i}", PROVIDER, token)

    await asyncio.gather(*(one(i, due) for i, due in enumerate(dues)))
    return time.monotonic() - started


async def endpoint_records(url: str) -> dict[str, list[float]]:
    async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
        raw = (await client.get(f"{url}/__records")).json()
    arrivals: dict[str, list[float]] = {}
    for refresh_token, at in raw:
        arrivals.setdefault(refresh_token, []).append(at)
    return arrivals


async def endpoint_requests(url: str) -> int:
    async with httpx.AsyncClient(trust_env=False) as client:
        return int((await client.get(f"{url}/__stats")).json()["requests"])


async def wait_for_arrivals(url: str, tag: str, count: int, deadline: float, pid: int, *, before: int) -> int:
    """Poll the endpoint until ``count`` refreshes tagged ``tag`` arrived; returns peak RSS seen (kB).

    The full records are fetched only once ``count`` requests arrived after ``before`` (the
    endpoint's count when the phase began): fetching them every half second serialises
    every record so far in the endpoint's event loop and in this process, which slowed the
    burst it measures by ~20% (the baseline phase is not polled).
    """
    peak = 0
    async with httpx.AsyncClient(trust_env=False) as client:
        while time.time() < deadline:
            peak = max(peak, _memory_kb(pid, "VmRSS"))
            stats = (await client.get(f"{url}/__stats")).json()
            if stats["requests"] - before >= count:
                records = await endpoint_records(url)
                if sum(1 for rt in records if rt.startswith(tag)) >= count:
                    break
            await asyncio.sleep(0.5)
    return peak


def spread_result(
    tag: str, dues: list[datetime], margin: float, arrivals: dict[str, list[float]]
) -> dict[str, Any]:
    lateness, expired, duplicates = [], 0, 0
    for i, due in enumerate(dues):
        seen = arrivals.get(f"{tag}{i}", [])
        duplicates += max(0, len(seen) - 1)
        if not seen or seen[0] > due.timestamp() + margin:
            expired += 1
            continue
        lateness.append(seen[0] - due.timestamp())
    times = sorted(at for i in range(len(dues)) for at in arrivals.get(f"{tag}{i}", [])[:1])
    span = (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {
        "refreshed": len(lateness),
        "expired_unrefreshed": expired,
        "refreshed_twice": duplicates,
        "lateness_p50_ms": round(percentile(lateness, 50) * 1000, 1),
        "lateness_p99_ms": round(percentile(lateness, 99) * 1000, 1),
        "lateness_max_ms": round(max(lateness, default=0) * 1000, 1),
        "refreshes_per_s": round(len(times) / span, 1) if span else 0.0,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with stack() as running:
        cpu_before, started = time.process_time(), time.monotonic()
        base_rate = await baseline(f"{running.endpoint_url}/token", args.concurrency, args.baseline_seconds)
        base_requests = base_rate * (time.monotonic() - started)
        base_cpu_ms = (time.process_time() - cpu_before) / base_requests * 1000 if base_requests else 0.0
        refresher = start_refresher(running, _config(running, args.margin), args.concurrency)
        redis = create_redis(running.redis_url)
        cipher = Cipher([RootKey("k1", running.root_key, default=True)])
        store = TokenStore(redis, cipher, RefreshPolicy(margin_seconds=args.margin), prefix=PREFIX)
        before = await endpoint_requests(running.endpoint_url)
        first = datetime.now(UTC) + timedelta(seconds=args.tokens / SEED_RATE_GUESS + 10)
        dues = [first + timedelta(seconds=args.spread * i / args.tokens) for i in range(args.tokens)]
        seed_s = await seed(store, "spread-", dues, args.margin)
        late_start = max(0.0, time.time() - first.timestamp())
        # Every token stays stored; only those due inside the window are waited for and counted.
        window = [due for due in dues if due <= first + timedelta(seconds=args.window)]
        deadline = window[-1].timestamp() + args.margin + 60
        peak = await wait_for_arrivals(
            running.endpoint_url, "spread-", len(window), deadline, refresher.pid, before=before
        )
        spread = spread_result("spread-", window, args.margin, await endpoint_records(running.endpoint_url))

        # The rest of the 10-minute spread leaves the schedule (still stored), so the burst
        # phase measures capacity alone.
        await redis.delete(store.schedule.due_key)
        burst_due = datetime.now(UTC) + timedelta(seconds=args.burst / SEED_RATE_GUESS + 5)
        burst_dues = [burst_due] * args.burst
        before = await endpoint_requests(running.endpoint_url)
        await seed(store, "burst-", burst_dues, args.margin)
        cpu_before = _cpu_seconds(refresher.pid)
        await wait_for_arrivals(
            running.endpoint_url, "burst-", args.burst, time.time() + 600, refresher.pid, before=before
        )
        burst_cpu_ms = (_cpu_seconds(refresher.pid) - cpu_before) / args.burst * 1000
        burst = spread_result("burst-", burst_dues, args.margin, await endpoint_records(running.endpoint_url))
        hwm = _memory_kb(refresher.pid, "VmHWM")
        await redis.aclose()
    return {
        "tokens": args.tokens,
        "spread_s": args.spread,
        "window_s": args.window,
        "margin_s": args.margin,
        "concurrency": args.concurrency,
        "seed_s": round(seed_s, 1),
        "seed_overran_first_due_by_s": round(late_start, 1),
        "baseline_httpx_req_per_s": round(base_rate, 1),
        # CPU per request/refresh (this process's during the baseline, the refresher's during the
        # burst): a reading of the same comparison that depends less on what else the machine runs.
        "baseline_cpu_ms_per_req": round(base_cpu_ms, 3),
        "burst_refresher_cpu_ms_per_refresh": round(burst_cpu_ms, 3),
        "spread": spread,
        "burst": {**burst, "tokens": args.burst},
        "burst_to_baseline_ratio": round(burst["refreshes_per_s"] / base_rate, 3) if base_rate else 0.0,
        "refresher_peak_rss_mb": round(max(peak, hwm) / 1024, 1),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str]) -> dict[str, Any]:
    """Run the benchmark; print a table and return the numbers (``bench/__main__`` writes the JSON)."""
    args = _args(argv)
    result = asyncio.run(run(args))
    spread, burst = result["spread"], result["burst"]
    rows: list[dict[str, object]] = [
        {"measure": "bare httpx loop, req/s", "value": result["baseline_httpx_req_per_s"]},
        {
            "measure": f"first {args.window:.0f}s of {args.spread:.0f}s: refreshes/s (arrival-bound)",
            "value": spread["refreshes_per_s"],
        },
        {
            "measure": "spread: lateness p50 / p99 ms",
            "value": f"{spread['lateness_p50_ms']} / {spread['lateness_p99_ms']}",
        },
        {"measure": "spread: expired unrefreshed", "value": spread["expired_unrefreshed"]},
        {"measure": "spread: refreshed twice", "value": spread["refreshed_twice"]},
        {"measure": f"burst {args.burst}: refreshes/s (capacity)", "value": burst["refreshes_per_s"]},
        {"measure": "burst / bare httpx", "value": result["burst_to_baseline_ratio"]},
        {
            "measure": "CPU ms: bare httpx per request / refresher per refresh",
            "value": f"{result['baseline_cpu_ms_per_req']} / {result['burst_refresher_cpu_ms_per_refresh']}",
        },
        {"measure": "refresher peak RSS MB", "value": result["refresher_peak_rss_mb"]},
        {
            "measure": "seed s (overran first due by s)",
            "value": f"{result['seed_s']} ({result['seed_overran_first_due_by_s']})",
        },
    ]
    print(table(rows))
    print(json.dumps(result, indent=2))
    return result

"""Issue 11: the price of zero trust, the gateway's hot read and completion latency with bus
credentials, sealed payloads and Redis auth on, against the same code with them off.

Two engines run side by side in this process tree, each with its own embedded NATS, Valkey
and OAuth server (oidc-provider):

- ``on``: as ``make up`` runs it: a NATS user per service with its permissions, Valkey with a
  password, every request-reply payload sealed under the bus key (``shared/bus/sealing.py``);
- ``off``: NATS and Valkey without credentials, and the services started through this module
  (``python -m bench.zero_trust unsealed <service>``), which turns sealing off in that process
  only; nothing in the engine can turn it off.

Measured, the two engines taking turns so a slow spell of the shared machine lands on both:
``GET /v1/auth/status`` on a completed authorization, 50 concurrent clients (req/s, p50/p99;
target: ``on`` >= 0.9 of ``off``), and completion latency, callback sent -> waiting long-poll
answered (p50/p99; target: ``on`` p99 within +2 ms of ``off``). Run:
``python -m bench zero_trust [-- --flows 100 --duration 5 --rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import runpy
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import nats

from bench.common import summarize_ms, table
from bench.gateway import _combined
from bench.loadgen import Target, run_load
from bench.stacks import USER, complete_authorization
from shared.bus import subjects
from shared.bus.flushing import reach_server
from shared.bus.sealing import MAGIC
from tests.support.engine import Engine, base_config, make_engine
from tests.support.oauth_server import OAuthClient, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tests.support.servers import local_server
from tools.launcher import embedded

MODES = ("on", "off")
STATUS = "GET /v1/auth/status (completed)"


@dataclasses.dataclass
class UnsealedEngine(Engine):
    """The engine with each service started through :func:`_serve_unsealed`."""

    def service_command(self, service: str) -> list[str]:
        return [sys.executable, "-m", "bench.zero_trust", "unsealed", service]


@contextlib.contextmanager
def _open_servers(tmp: Path) -> Iterator[tuple[str, str]]:
    """NATS and Valkey without credentials (the ``off`` engine's)."""
    nats_port, redis_port = embedded.free_port(), embedded.free_port()
    nats = embedded.start_nats(nats_port, tmp / "nats")
    redis = embedded.start_valkey(redis_port, tmp / "redis", persistent=False)
    try:
        yield f"nats://127.0.0.1:{nats_port}", f"redis://127.0.0.1:{redis_port}/0"
    finally:
        embedded.stop(nats)
        embedded.stop(redis)


@contextlib.contextmanager
def _secured_servers(tmp: Path) -> Iterator[tuple[str, str]]:
    """NATS with a user per service and Valkey with a password (tests/support/servers.py)."""
    with (
        local_server("nats", tmp / "nats") as nats,
        local_server("redis", tmp / "redis", persistent=False) as redis,
    ):
        yield nats.url, redis.url


@contextlib.contextmanager
def _stack(tmp: Path, mode: str, log_level: str) -> Iterator[Engine]:
    servers = _secured_servers if mode == "on" else _open_servers
    with servers(tmp) as (nats_url, redis_url):
        port = embedded.free_port()
        redirect = f"http://127.0.0.1:{port}/oauth/callback"
        client = OAuthClient("bench-client", [redirect], client_secret="bench-secret")
        (tmp / "oauth").mkdir()
        with start_oauth_server(tmp / "oauth", clients=[client]) as oauth:
            config = base_config(port, "bench-root-key-" + "x" * 24)
            config["auth"]["providers"] = [
                oidc_provider_entry(oauth, id="hooli", client_id="bench-client", client_secret="bench-secret")
            ]
            engine = make_engine(
                tmp / "engine",
                check_responses=False,
                nats_url=nats_url,
                redis_url=redis_url,
                config=config,
                extra_env={"VALETKEY_LOG_LEVEL": log_level},
            )
            if mode == "off":
                engine = UnsealedEngine(
                    **{f.name: getattr(engine, f.name) for f in dataclasses.fields(engine)}
                )
            engine.start()
            try:
                yield engine
            finally:
                engine.stop()


async def _measure(engines: dict[str, Engine], *, flows: int, duration: float, rounds: int) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=70)
    completed: dict[str, str] = {}
    elapsed: dict[str, list[float]] = {mode: [] for mode in engines}
    async with httpx.AsyncClient(timeout=30) as http, aiohttp.ClientSession(timeout=timeout) as timed:
        for mode, engine in engines.items():
            completed[mode], _ = await complete_authorization(http, timed, engine, USER)
        for i in range(flows):  # the engines take turns, flow by flow
            for mode, engine in engines.items():
                _, seconds = await complete_authorization(http, timed, engine, f"user-{i}@example.com")
                elapsed[mode].append(seconds)
    targets = {
        mode: Target(
            "GET",
            f"{engine.base_url}/v1/auth/status?id={completed[mode]}",
            {**engine.headers, "Content-Type": "application/json"},
        )
        for mode, engine in engines.items()
    }
    by_round = [
        {mode: await run_load(t, concurrency=50, duration=duration) for mode, t in targets.items()}
        for _ in range(rounds)
    ]
    sealed = {mode: await _sealed_on_the_wire(engines[mode], targets[mode]) for mode in engines}
    return {
        "sealed_on_the_wire": sealed,
        "loads": {mode: _combined([r[mode] for r in by_round]) for mode in targets},
        "round_ratios": [round(r["on"]["rps"] / r["off"]["rps"], 2) for r in by_round],
        "completion": {mode: summarize_ms(seconds) for mode, seconds in elapsed.items()},
    }


async def _sealed_on_the_wire(engine: Engine, target: Target) -> bool:
    """Evidence of the mode: whether a status request, as a listener on ``>`` reads it, is sealed."""
    nc = await nats.connect(engine.tester_nats_url)
    try:
        sub = await nc.subscribe(subjects.AUTH_STATUS)
        await reach_server(nc)
        async with httpx.AsyncClient(timeout=30) as http:
            (await http.get(target.url, headers=target.headers)).raise_for_status()
        return (await sub.next_msg(timeout=10)).data.startswith(MAGIC)
    finally:
        await nc.close()


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench zero_trust")
    parser.add_argument("--flows", type=int, default=100, help="completions measured per engine")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per engine and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-level", default="INFO", help="the services' log level (INFO is the default)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stacks:
        engines = {
            mode: stacks.enter_context(_stack(Path(tmp) / mode, mode, args.log_level)) for mode in MODES
        }
        result = asyncio.run(_measure(engines, flows=args.flows, duration=args.duration, rounds=args.rounds))
    loads, completion = result["loads"], result["completion"]
    rows = [
        {
            "zero trust": mode,
            "status req/s": loads[mode]["rps"],
            "p50 ms": loads[mode]["p50_ms"],
            "p99 ms": loads[mode]["p99_ms"],
            "errors": loads[mode]["errors"],
            "completion p50 ms": completion[mode]["p50_ms"],
            "completion p99 ms": completion[mode]["p99_ms"],
        }
        for mode in MODES
    ]
    print(table(rows))
    ratio = round(loads["on"]["rps"] / loads["off"]["rps"], 2) if loads["off"]["rps"] else 0.0
    delta = round(completion["on"]["p99_ms"] - completion["off"]["p99_ms"], 3)
    print(f"throughput on/off: {ratio} (target >= 0.9); by round: {result['round_ratios']}")
    print(f"completion p99 on - off: {delta:+} ms (target <= +2 ms) over {args.flows} flows each")
    print(f"sealed on the wire: {result['sealed_on_the_wire']}")
    result |= {"ratio": ratio, "completion_p99_delta_ms": delta, "args": vars(args)}
    return result


def _serve_unsealed(service: str) -> None:
    """Run ``python -m services.<service>`` with sealing off in this process: the ``off`` engine."""
    from shared.bus import messaging, rpc

    messaging.is_sealed = rpc.is_sealed = lambda _subject: False  # type: ignore[attr-defined,assignment]
    sys.argv = [f"services.{service}"]
    runpy.run_module(f"services.{service}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["unsealed"]:
        _serve_unsealed(sys.argv[2])
    else:
        print(main(sys.argv[1:]))

"""The gateway's hot reads against a bare FastAPI + NATS echo and the floor, and completion latency.

Everything runs on loopback in this process tree: embedded NATS and Valkey, the real
OAuth server (oidc-provider), the services as processes, the baseline (a bare FastAPI
endpoint doing one NATS request-reply to a FastStream echo service) and the floor (a pure ASGI
app doing one raw nats-py request to a raw nats-py echo, ``bench/floor.py``).

Measured:
- ``GET /v1/auth/status`` on a completed authorization and ``POST /v1/tools/authorize``
  for a user who already holds the token, 50 concurrent clients: req/s, p50/p99, and the
  ratios to the baseline's and to the floor's req/s. The three targets take turns over a few
  rounds, since the baseline alone moved by a third between runs on these machines.
- Completion latency: callback arrives at the gateway -> the waiting ``wait=`` request
  answers, p50/p99 over N flows (target p99 < 20 ms): as the client sees it (callback
  sent -> answer read), and at the gateway from its own request lines.

The services log at INFO, the engine's default (``--log-level`` to change); the baseline
logs nothing. ``--otel`` traces every service into a local OTLP/HTTP sink (a process of its
own that only counts the exports), to compare with a run without it. ``--metrics-off`` runs a
second engine beside the first with its request metrics off (``VALETKEY_METRICS=false``) and no
tracing, and its hot reads take turns with the others: the first engine's req/s over its own
(target >= 0.95 with metrics on and tracing off) is what metrics (and, with ``--otel``, traces)
cost. Valkey keeps no
append-only file here, as in the other benchmarks: `make up`'s Valkey fsyncs every write
(appendfsync always), which on these machines' virtual disks adds ~0.5 ms to each write and
stalls of several ms, a cost of the disk and of that durability choice rather than of the engine;
``--redis-fsync`` measures with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.common import summarize_ms, table
from bench.floor import companion
from bench.loadgen import Target, run_load
from bench.profile import print_services, profiled
from bench.stacks import USER, complete_authorization, hot_reads, oauth_stack, otel_sink
from tests.support.engine import Engine

BASELINE = "baseline (FastAPI + NATS echo)"
FLOOR = "floor (pure ASGI + raw nats-py echo)"
METRICS_OFF = ", metrics off"


async def _measure(
    engine: Engine,
    baseline_url: str,
    floor_url: str,
    *,
    flows: int,
    duration: float,
    rounds: int,
    profile_dir: Path | None = None,
    metrics_off: Engine | None = None,
    floor_pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=70)
    async with httpx.AsyncClient(timeout=30) as http, aiohttp.ClientSession(timeout=timeout) as timed:
        auth_id, _ = await complete_authorization(http, timed, engine, USER)
        measured = [
            await complete_authorization(http, timed, engine, f"user-{i}@example.com") for i in range(flows)
        ]
        if metrics_off is not None:
            plain_id, _ = await complete_authorization(http, timed, metrics_off, USER)
    targets = {
        FLOOR: Target("GET", floor_url, {}),
        BASELINE: Target("GET", baseline_url, {}),
        **hot_reads(engine, auth_id),
    }
    if metrics_off is not None:
        targets |= hot_reads(metrics_off, plain_id, METRICS_OFF)
    # Rounds alternate the targets, so a slow spell of the machine lands on all of them alike.
    by_round = [
        {name: await run_load(t, concurrency=50, duration=duration) for name, t in targets.items()}
        for _ in range(rounds)
    ]
    loads = {name: _combined([r[name] for r in by_round]) for name in targets}
    round_ratios = [
        {
            name: (round(r[name]["rps"] / r[BASELINE]["rps"], 2), round(r[name]["rps"] / r[FLOOR]["rps"], 2))
            for name in targets
            if name not in (BASELINE, FLOOR)
        }
        for r in by_round
    ]
    profiles = await _profiles(engine, targets, duration, profile_dir, floor_pids) if profile_dir else {}
    return {
        "loads": loads,
        "profiles": profiles,
        "round_ratios": round_ratios,
        "metrics_cost": _metrics_cost(loads, by_round) if metrics_off else None,
        "completion": summarize_ms([elapsed for _, elapsed in measured]),
        "authorization_ids": [authorization_id for authorization_id, _ in measured],
    }


PROFILED = ("gateway", "authorizer", "executor")


async def _profiles(
    engine: Engine,
    targets: dict[str, Target],
    duration: float,
    out: Path,
    floor_pids: dict[str, int] | None = None,
) -> dict[str, dict[str, Any]]:
    """One more load per engine target with py-spy on the services: CPU per request and its
    breakdown; and the floor's two processes on the floor's, the reference to read them against."""
    engine_pids = {name: engine.procs[name].pid for name in PROFILED}
    found: dict[str, dict[str, Any]] = {}
    for index, (name, target) in enumerate(targets.items()):
        if name == FLOOR and floor_pids:
            pids = {f"floor {role}": pid for role, pid in floor_pids.items()}
        elif name in (BASELINE, FLOOR) or name.endswith(METRICS_OFF):  # not this engine's
            continue
        else:
            pids = engine_pids
        with profiled(pids, out / f"target{index}") as profiles:
            load = await run_load(target, concurrency=50, duration=duration)
        requests = int(load["rps"] * duration)
        found[name] = {
            service: {"cpu_us_per_request": p.per_request_us(requests), "shares": p.shares}
            for service, p in profiles.items()
        }
    return found


def _metrics_cost(loads: dict[str, Any], by_round: list[dict[str, Any]]) -> dict[str, Any]:
    """Each hot read's req/s with metrics as configured over its req/s with them off, overall
    and by round."""
    names = [name for name in loads if name + METRICS_OFF in loads]

    def ratios(runs: dict[str, Any]) -> dict[str, float]:
        return {name: round(runs[name]["rps"] / runs[name + METRICS_OFF]["rps"], 3) for name in names}

    return {"ratio": ratios(loads), "by_round": [ratios(r) for r in by_round]}


def _print_profiles(profiles: dict[str, dict[str, Any]]) -> None:
    for target, services in profiles.items():
        print(f"profile of {target}:")
        print_services(services)


def _at_gateway(log: Path, authorization_ids: list[str]) -> list[float]:
    """Seconds from each callback's arrival to its long-poll's answer, from the gateway's own
    request lines (the issue's definition; the client's view adds its own two hops).

    A request line is written once the answer is sent and carries the milliseconds since
    the request arrived; flows run one at a time, so a flow's callback line is the last
    one before its long-poll's line.
    """
    lines = [json.loads(line) for line in log.read_text().splitlines() if '"http.request"' in line]
    stamp = {id(r): datetime.fromisoformat(r["timestamp"]).timestamp() for r in lines}
    seconds: list[float] = []
    for authorization_id in authorization_ids:
        poll = next(
            r for r in lines if r["path"] == "/v1/auth/status" and f"id={authorization_id}&wait" in r["query"]
        )
        callbacks = [r for r in lines if r["path"] == "/oauth/callback" and stamp[id(r)] <= stamp[id(poll)]]
        arrived = stamp[id(callbacks[-1])] - callbacks[-1]["ms"] / 1000
        seconds.append(stamp[id(poll)] - arrived)
    return seconds


def _combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one target: mean req/s and p50, worst p99, all errors."""
    return {
        "rps": round(statistics.fmean(r["rps"] for r in runs), 1),
        "p50_ms": round(statistics.fmean(r["p50_ms"] for r in runs), 3),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


def _p50_p99(summary: dict[str, float]) -> str:
    return f"p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms"


def _sampled(env: dict[str, str] | None, args: argparse.Namespace) -> dict[str, str]:
    """The services' extra environment, with the request-line sample and the gateway's answer cache
    lifetime when asked for."""
    sample = (
        {} if args.request_log_sample == 1 else {"VALETKEY_REQUEST_LOG_SAMPLE": str(args.request_log_sample)}
    )
    cache = {} if args.answer_cache is None else {"VALETKEY_ANSWER_CACHE_SECONDS": str(args.answer_cache)}
    return {**(env or {}), **sample, **cache}


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench gateway")
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per target and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-level", default="INFO", help="the services' log level (INFO is the default)")
    parser.add_argument(
        "--request-log-sample",
        type=int,
        default=1,
        help="VALETKEY_REQUEST_LOG_SAMPLE: one answered request's INFO line in N (1, the default: all)",
    )
    parser.add_argument(
        "--answer-cache",
        type=float,
        default=None,
        metavar="SECONDS",
        help="VALETKEY_ANSWER_CACHE_SECONDS for the gateway (0: off; unset: the default, 2)",
    )
    parser.add_argument(
        "--redis-fsync",
        action="store_true",
        help="run Valkey as `make up` does, fsyncing every write to disk (appendfsync always)",
    )
    parser.add_argument(
        "--otel",
        action="store_true",
        help="trace every service (OTEL_EXPORTER_OTLP_ENDPOINT) into a local sink that counts the exports",
    )
    parser.add_argument(
        "--otel-sample", type=float, default=None, help="with --otel: the share of traces recorded (0..1)"
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="after the rounds, one more load per engine target with py-spy on the gateway, authorizer "
        "and executor: CPU per request and where it goes (bench/profile.py); the collapsed stacks "
        "are kept in DIR if given",
    )
    parser.add_argument(
        "--metrics-off",
        action="store_true",
        help="also run an engine with VALETKEY_METRICS=false and no tracing, and compare the hot reads",
    )
    args = parser.parse_args(argv)
    floor_pids: dict[str, int] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        otel_sink(args.otel, args.otel_sample) as otel_env,
        oauth_stack(Path(tmp), args.log_level, args.redis_fsync, _sampled(otel_env, args)) as (engine, _),
        companion("bench.baseline", engine.tester_nats_url, "/echo?i=5") as baseline_url,
        companion("bench.floor", engine.tester_nats_url, "/", floor_pids) as floor_url,
        contextlib.ExitStack() as more,
    ):
        plain = None
        if args.metrics_off:
            plain, _ = more.enter_context(
                oauth_stack(Path(tmp) / "metrics_off", args.log_level, args.redis_fsync, metrics=False)
            )
        result = asyncio.run(
            _measure(
                engine,
                baseline_url,
                floor_url,
                flows=args.flows,
                duration=args.duration,
                rounds=args.rounds,
                profile_dir=None if args.profile is None else Path(args.profile or Path(tmp) / "profiles"),
                metrics_off=plain,
                floor_pids=floor_pids,
            )
        )
        # Request lines are written at INFO, each of them unless sampled.
        if args.log_level.upper() in ("DEBUG", "INFO") and args.request_log_sample == 1:
            result["completion_at_gateway"] = summarize_ms(
                _at_gateway(engine.log_path("gateway"), result["authorization_ids"])
            )
        # Evidence the setting took: traced request lines carry their trace id.
        result["traced"] = '"trace_id"' in engine.log_path("gateway").read_text()
        if plain is not None:  # and that the other engine recorded no request
            scraped = httpx.get(f"{plain.base_url}/metrics", timeout=10).text
            result["metrics_off_recorded_nothing"] = "valetkey_http_requests_total{" not in scraped
    base_rps = result["loads"][BASELINE]["rps"]
    floor_rps = result["loads"][FLOOR]["rps"]
    rows = [
        {
            "target": name,
            "req/s": r["rps"],
            "p50 ms": r["p50_ms"],
            "p99 ms": r["p99_ms"],
            "errors": r["errors"],
            "ratio": round(r["rps"] / base_rps, 2) if base_rps else 0,
            "of floor": round(r["rps"] / floor_rps, 2) if floor_rps else 0,
        }
        for name, r in result["loads"].items()
    ]
    print(table(rows))
    print(
        f"over {args.rounds} rounds of {args.duration} s; (to baseline, to floor) by round: "
        f"{result['round_ratios']}"
    )
    if cost := result["metrics_cost"]:
        traced = "metrics and traces" if args.otel else "metrics (tracing off)"
        print(f"req/s with {traced} over req/s with neither (target >= 0.95): {cost['ratio']}")
        print(f"  by round: {cost['by_round']}")
        print(f"  (no request recorded with metrics off: {result['metrics_off_recorded_nothing']})")
    c = result["completion"]
    print(f"completion latency over {c['n']} flows, as the client sees it: {_p50_p99(c)}")
    if at_gateway := result.get("completion_at_gateway"):
        print(f"  the same flows at the gateway (arrival to answer): {_p50_p99(at_gateway)}")
    fsync = "fsyncing every write, as `make up` does" if args.redis_fsync else "without an append-only file"
    traced = "traced into a local OTLP sink" if args.otel else "not traced"
    if args.otel and args.otel_sample is not None:
        traced += f", {args.otel_sample:.0%} of traces sampled"
    sampled = "" if args.request_log_sample == 1 else f", one request line in {args.request_log_sample}"
    ids = result["traced"]
    print(f"services logging at {args.log_level}{sampled}, {traced} (trace ids in its lines: {ids})")
    print(f"Valkey {fsync}")
    _print_profiles(result["profiles"])
    result["log_level"], result["redis_fsync"], result["otel"] = args.log_level, args.redis_fsync, args.otel
    result["otel_sample"], result["metrics_off"] = args.otel_sample, args.metrics_off
    result["request_log_sample"] = args.request_log_sample
    result["ratios"] = {row["target"]: row["ratio"] for row in rows}
    result["of_floor"] = {row["target"]: row["of floor"] for row in rows}
    return result

"""Webhooks benchmark: events published to JetStream until their signed POST reaches a local receiver.

Processes, all on loopback: Valkey and nats-server (embedded binaries), the webhooks service
(``python -m services.webhooks``, which delivers webhooks) and the gateway (its admin API says
when delivery is ready), a fast receiver (this module
run with ``--receiver``, a bare ASGI app on uvicorn that only records arrivals), and this
driver, which publishes events the way the outbox relay does (``Nats-Msg-Id`` = event id).

Latency is the receiver's arrival time minus the event's ``occurred_at`` (set just before
publishing), so it covers JetStream, the fan-out (and the deliveries work queue, for a
delivery that goes through it), signing and HTTP.

Phases (after a warm-up):
1. burst: ``--events`` events published as fast as possible -> delivered events/s, latency;
2. paced, once per ``--rate`` (default 200 and 1,000 events/s): the same number of events at
   that rate -> latency while the rate is sustained. Issue #7's "p99 under 50 ms at 1,000
   events" is read both ways: 1,000 events arriving at 1,000/s, and 1,000 all at once.

The driver runs on uvloop, like the services, so that publishing takes as little of the
machine as it can from the processes measured.

Run: ``python -m bench webhooks`` (``-- --events 1000 --rate 200 1000``). Numbers, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import yaml

from bench.common import summarize_ms, table
from services.webhooks.domain import new_secret
from shared.contracts.events import AuthorizationCompleted
from tools.launcher import embedded

ROOT = Path(__file__).resolve().parents[1]
WAIT_LIMIT_S = 60.0


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench webhooks")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[200.0, 1000.0], help="events/s, one paced phase each"
    )
    parser.add_argument("--per-endpoint", type=int, default=16, help="webhooks.max_in_flight_per_endpoint")
    return parser.parse_args(argv)


@contextlib.contextmanager
def stack(home: Path, per_endpoint: int = 16) -> Iterator[dict[str, Any]]:
    """NATS, Valkey, the receiver, the webhooks service and the gateway; everything is stopped on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        nats_port, redis_port, recv_port, api_port = (embedded.free_port() for _ in range(4))
        procs.append(embedded.start_valkey(redis_port, home / "redis", persistent=False))
        procs.append(embedded.start_nats(nats_port, home / "nats"))
        recv = [sys.executable, "-m", "bench.webhooks", "--receiver", str(recv_port)]
        procs.append(subprocess.Popen(recv, cwd=ROOT))
        embedded.wait_for_port(recv_port, procs[-1], name="receiver")
        api_key = secrets.token_urlsafe(16)
        config = _config(home, api_port, recv_port, per_endpoint)
        env = {
            **os.environ,
            "VALETKEY_CONFIG": str(config),
            "VALETKEY_API_KEY": api_key,
            "VALETKEY_LOG_LEVEL": "WARNING",
            "NATS_URL": f"nats://127.0.0.1:{nats_port}",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        }
        for service in ("webhooks", "gateway"):
            log = (home / f"{service}.log").open("ab")
            command = [sys.executable, "-m", f"services.{service}"]
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log))
        _wait_ready(f"http://127.0.0.1:{api_port}", api_key, procs[-2:])
        yield {
            "nats_url": env["NATS_URL"],
            "receiver": f"http://127.0.0.1:{recv_port}",
            "delivering_pid": procs[-2].pid,
        }
    finally:
        for proc in reversed(procs):
            embedded.stop(proc)


def _config(home: Path, api_port: int, recv_port: int, per_endpoint: int) -> Path:
    config = {
        "api": {"host": "127.0.0.1", "port": api_port},
        "auth": {"verification": {"mode": "unsafe_skip"}},  # no authorizations run here
        "security": {
            "root_keys": [{"id": "k1", "value": secrets.token_urlsafe(32), "default": True}],
            "bus_key": secrets.token_urlsafe(32),
            "webhook_keys": [{"id": "w1", "value": secrets.token_urlsafe(32), "default": True}],
        },
        "webhooks": {
            "allow_private_targets": True,
            "max_in_flight_per_endpoint": per_endpoint,
            "endpoints": [
                {"id": "bench", "url": f"http://127.0.0.1:{recv_port}/hook", "secret": new_secret()}
            ],
        },
    }
    path = home / "engine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_ready(base: str, key: str, services: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in services):
            raise RuntimeError("a service exited; see webhooks.log and gateway.log")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/v1/admin/webhooks", headers={"Authorization": f"Bearer {key}"}).is_success:
                return
        time.sleep(0.1)
    raise RuntimeError("webhook admin API not ready")


async def publish(js: Any, count: int, rate: float | None) -> dict[str, float]:
    """Publish ``count`` events (all at once, or at ``rate``/s); returns event id -> occurred_at."""
    sent: dict[str, float] = {}

    async def one() -> None:
        event = AuthorizationCompleted(user_id="u", provider_id="p", authorization_id="ac")
        sent[event.event_id] = event.occurred_at.timestamp()
        await js.publish(
            event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id}
        )

    if rate is None:
        await asyncio.gather(*(one() for _ in range(count)))
        return sent
    start = time.perf_counter()
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        await one()
    return sent


async def collect(receiver: str, sent: dict[str, float]) -> dict[str, float]:
    """Wait (bounded) until every id arrived; returns id -> first arrival time."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    async with httpx.AsyncClient() as client:
        while True:
            arrivals = {k: v for k, v in (await client.get(f"{receiver}/stats")).json().items() if k in sent}
            if len(arrivals) == len(sent) or time.monotonic() > deadline:
                return arrivals
            await asyncio.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after the command name: state is field 3, utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def phase(
    name: str, js: Any, receiver: str, count: int, rate: float | None, pid: int
) -> dict[str, Any]:
    cpu_before = cpu_seconds(pid)
    sent = await publish(js, count, rate)
    arrivals = await collect(receiver, sent)
    cpu_used = cpu_seconds(pid) - cpu_before
    latencies = [arrivals[i] - sent[i] for i in arrivals]
    span = max(arrivals.values()) - min(sent.values()) if arrivals else 0.0
    return {
        "phase": name,
        "events": count,
        "delivered": len(arrivals),
        "events_per_s": round(len(arrivals) / span, 1) if span else 0.0,
        # CPU of the delivering service per event: comparable across runs on a busy machine
        "cpu_us_per_event": round(cpu_used / count * 1e6) if count else 0,
        **summarize_ms(latencies),
    }


async def drive(args: argparse.Namespace, running: dict[str, Any]) -> list[dict[str, Any]]:
    nc = await nats.connect(running["nats_url"])
    receiver, pid = running["receiver"], running["delivering_pid"]
    try:
        js = nc.jetstream()
        await phase("warm-up", js, receiver, 50, None, pid)
        rows = [await phase("burst", js, receiver, args.events, None, pid)]
        for rate in args.rate:
            rows.append(await phase(f"paced {rate:g}/s", js, receiver, args.events, rate, pid))
        return rows
    finally:
        await nc.close()


def main(argv: list[str]) -> dict[str, Any]:
    args = _args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="vk-bench-webhooks-") as tmp,
        stack(Path(tmp), args.per_endpoint) as running,
    ):
        rows = _run(drive(args, running))
    print(table(rows))
    print("target: p99 < 50 ms at 1,000 events (paced 1000/s; the burst shows capacity)")
    return {
        "phases": rows,
        "events": args.events,
        "rate": args.rate,
        "per_endpoint": args.per_endpoint,
        "cpus": os.cpu_count(),
    }


def _run(main: Coroutine[Any, Any, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


# --- the receiver process -----------------------------------------------------------------


def serve_receiver(port: int) -> None:
    """A minimal ASGI receiver: records the first arrival of each webhook-id, answers 204."""
    import uvicorn

    arrivals: dict[str, float] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        now = time.time()
        while (await receive()).get("more_body"):
            pass
        if scope["path"] == "/stats":
            body = json.dumps(arrivals).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        msg_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
        arrivals.setdefault(msg_id, now)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--receiver":
    serve_receiver(int(sys.argv[2]))

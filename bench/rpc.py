"""Request-reply runtimes compared: CPU per message of the serving process, and requests/s.

One real nats-server on a free loopback port; for each variant, one server process answers an
echo contract on one subject in a queue group, through the same envelope code the services use
(``shared.bus.messaging.answer``), up to 64 requests at once:

- ``hand_made``: the subscription server ``shared/bus/rpc.py`` had before nats.micro (a nats-py
  callback that takes a slot and runs the request as a task), reduced here to its serving path;
- ``micro``: ``shared.bus.rpc.RpcServer`` on ``nats.micro``, its payloads unsealed;
- ``micro_sealed``: the same, as the services run it: requests and replies sealed under the bus
  key (``shared/bus/sealing.py``); the driver seals and opens them as ``RpcClient`` does;
- ``faststream``: a FastStream subscriber (``max_workers=64``).

This driver keeps ``--clients`` requests in flight for ``--seconds`` after a short warm-up and
asks the server process for its own CPU time (``time.process_time``) before and after, so the
CPU per message is the serving side's alone. Both sides run on uvloop, logging at WARNING.
Ratios are to ``hand_made``. Run: ``python -m bench rpc [-- --clients 64 --seconds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import BaseModel

from bench.common import table
from shared.bus.flushing import reach_server
from shared.bus.messaging import answer
from shared.bus.rpc import Route, RpcServer
from shared.bus.sealing import BusSeal
from shared.runtime.logging import configure_logging
from tools.launcher import embedded

VARIANTS = ("hand_made", "micro", "micro_sealed", "faststream")
SUBJECT = "bench.rpc.echo"
QUEUE = "bench"
CPU_SUBJECT = "bench.rpc.cpu"
WORKERS = 64
BODY = b'{"text": "hello, valetkey"}'
SEAL = BusSeal("bench-rpc-bus-key-0123456789abcdef")


class Echo(BaseModel):
    text: str


async def echo(request: Echo) -> Echo:
    return Echo(text=request.text)


# --- the serving side (``python -m bench.rpc serve VARIANT NATS_URL``) ---------------------------


async def _hand_made(nc: NatsClient) -> None:
    """The pre-micro server's path: wait for a slot in the callback, answer in a task."""
    slots = asyncio.Semaphore(WORKERS)
    running: set[asyncio.Task[None]] = set()

    async def serve(msg: Msg) -> None:
        try:
            await msg.respond((await answer(Echo, msg.data, echo)).data)
        finally:
            slots.release()

    async def dispatch(msg: Msg) -> None:
        await slots.acquire()
        task = asyncio.create_task(serve(msg))
        running.add(task)
        task.add_done_callback(running.discard)

    await nc.subscribe(SUBJECT, queue=QUEUE, cb=dispatch)


async def _micro(nc: NatsClient, *, sealed: bool) -> None:
    server = RpcServer(service="bench", seal=SEAL)
    if sealed:
        server.add(SUBJECT, Echo, echo, queue=QUEUE, workers=WORKERS)
    else:  # a route without a seal, which RpcServer.add gives only the health pings
        server.routes.append(Route(SUBJECT, Echo, echo, QUEUE, WORKERS, "echo"))
    await server.start(nc)


async def _faststream(url: str) -> NatsClient:
    from faststream.nats import NatsBroker

    broker = NatsBroker(url, logger=None)

    @broker.subscriber(SUBJECT, queue=QUEUE, max_workers=WORKERS)
    async def handler(body: Any) -> bytes:
        return (await answer(Echo, body, echo)).data

    await broker.start()
    return broker.connection


async def _serve(variant: str, url: str) -> None:
    if variant == "faststream":
        nc = await _faststream(url)
    else:
        nc = await nats.connect(url)
        if variant == "hand_made":
            await _hand_made(nc)
        else:
            await _micro(nc, sealed=variant == "micro_sealed")

    async def cpu(msg: Msg) -> None:
        await msg.respond(repr(time.process_time()).encode())

    await nc.subscribe(CPU_SUBJECT, cb=cpu)
    await reach_server(nc)
    await asyncio.Event().wait()  # until the driver terminates this process


# --- the driving side --------------------------------------------------------------------------


def _run(main: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def _server_cpu(nc: NatsClient, *, wait: float = 0.0) -> float:
    deadline = time.monotonic() + wait
    while True:
        try:
            return float((await nc.request(CPU_SUBJECT, b"", timeout=2)).data)
        except (NoRespondersError, NatsTimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def _load(nc: NatsClient, clients: int, seconds: float, *, sealed: bool) -> int:
    """Keep ``clients`` requests in flight for ``seconds``; return how many were answered."""
    deadline = time.monotonic() + seconds
    answered = 0

    async def client() -> None:
        nonlocal answered
        while time.monotonic() < deadline:
            body = SEAL.seal_request(SUBJECT, BODY) if sealed else BODY
            reply = (await nc.request(SUBJECT, body, timeout=10)).data
            if sealed:
                reply = SEAL.open_reply(SUBJECT, BusSeal.request_id(body), reply)
            assert reply.startswith(b'{"ok":true'), reply
            answered += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return answered


async def _measure(
    url: str, clients: int, seconds: float, warmup: float, *, sealed: bool
) -> dict[str, float]:
    nc = await nats.connect(url)
    try:
        await _server_cpu(nc, wait=20.0)
        await _load(nc, clients, warmup, sealed=sealed)
        cpu_before, started = await _server_cpu(nc), time.monotonic()
        answered = await _load(nc, clients, seconds, sealed=sealed)
        elapsed, cpu_after = time.monotonic() - started, await _server_cpu(nc)
    finally:
        await nc.close()
    return {
        "messages": answered,
        "rps": round(answered / elapsed, 1),
        "cpu_us_per_msg": round((cpu_after - cpu_before) / answered * 1e6, 1),
    }


@contextlib.contextmanager
def _nats_server() -> Iterator[str]:
    port = embedded.free_port()
    with tempfile.TemporaryDirectory(prefix="vkbench-rpc-") as tmp:
        proc = embedded.start_nats(port, Path(tmp))
        try:
            yield f"nats://127.0.0.1:{port}"
        finally:
            embedded.stop(proc)


def _variant(variant: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    server = subprocess.Popen([sys.executable, "-m", "bench.rpc", "serve", variant, url])
    try:
        measured = _measure(url, args.clients, args.seconds, args.warmup, sealed=variant == "micro_sealed")
        result: dict[str, float] = _run(measured)
        return result
    finally:
        embedded.stop(server)


def _with_ratios(results: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    base = results["hand_made"]
    for row in results.values():
        row["rps_ratio"] = round(row["rps"] / base["rps"], 2)
        row["cpu_ratio"] = round(row["cpu_us_per_msg"] / base["cpu_us_per_msg"], 2)
    return results


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench rpc")
    parser.add_argument("--clients", type=int, default=64, help="requests kept in flight")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per variant")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before that")
    args = parser.parse_args(argv)
    with _nats_server() as url:
        results = _with_ratios({variant: _variant(variant, url, args) for variant in VARIANTS})
    print(table([{"variant": name, **row} for name, row in results.items()]))
    return {"clients": args.clients, "seconds": args.seconds, "workers": WORKERS, "variants": results}


def _serve_main(argv: list[str]) -> None:
    configure_logging(service="bench-rpc", level="WARNING", json_output=True)
    variant, url = argv
    _run(_serve(variant, url))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        with contextlib.suppress(KeyboardInterrupt):
            _serve_main(sys.argv[2:])
    else:
        print(main(sys.argv[1:]))

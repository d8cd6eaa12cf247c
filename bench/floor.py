"""The floor the gateway is measured against: what one HTTP request answered by one NATS round trip
costs on this stack with nothing else in the way (issue: "Close to the floor").

A pure ASGI app on uvicorn doing one raw nats-py request, and a raw nats-py echo that answers it,
each in its own process: no framework, no routing, no validation, no logging.

``python -m bench.floor echo <nats_url>`` / ``python -m bench.floor http <nats_url> <port>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import nats
import uvicorn
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError

from tools.launcher import embedded

SUBJECT = "bench.floor"
BODY = b'{"i": 5}'


async def echo(nats_url: str) -> None:
    nc = await nats.connect(nats_url)

    async def answer(msg: Msg) -> None:
        await msg.respond(b'{"ok":true,"result":' + msg.data + b"}")

    await nc.subscribe(SUBJECT, queue="floor", cb=answer)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await nc.drain()


class FloorApp:
    """Every request: one NATS request, its reply as the body."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self.nc: Client | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self.nc is not None
        try:
            reply = await self.nc.request(SUBJECT, BODY, timeout=5)
        except NoRespondersError:  # the echo is not subscribed yet: the readiness poll asks again
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(reply.data)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": reply.data})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.nc = await nats.connect(self.nats_url)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.nc is not None:
                    await self.nc.drain()
                await send({"type": "lifespan.shutdown.complete"})
                return


@contextlib.contextmanager
def companion(module: str, nats_url: str, path: str, pids: dict[str, int] | None = None) -> Iterator[str]:
    """The echo and HTTP processes of ``bench.baseline`` or ``bench.floor``; yields the URL to load.

    ``pids``: filled with the two processes' ids (``echo``, ``http``), for the profiler.
    """
    port = embedded.free_port()
    cmd = [sys.executable, "-m", module]
    procs = [
        subprocess.Popen([*cmd, "echo", nats_url]),
        subprocess.Popen([*cmd, "http", nats_url, str(port)]),
    ]
    if pids is not None:
        pids |= {"echo": procs[0].pid, "http": procs[1].pid}
    url = f"http://127.0.0.1:{port}{path}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    role, nats_url = sys.argv[1], sys.argv[2]
    if role == "echo":
        asyncio.run(echo(nats_url))
    else:
        app = FloorApp(nats_url)
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), access_log=False, log_level="warning")


if __name__ == "__main__":
    main()

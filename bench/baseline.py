"""The baseline the gateway is compared with: a bare FastAPI endpoint doing one NATS request-reply
to an echo service (FastStream, like our services), each in its own process.

``python -m bench.baseline echo <nats_url>`` / ``python -m bench.baseline http <nats_url> <port>``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException
from faststream import FastStream
from faststream.nats import NatsBroker
from nats.errors import NoRespondersError

SUBJECT = "bench.echo"


def echo_app(nats_url: str) -> FastStream:
    broker = NatsBroker(nats_url, logger=None)

    @broker.subscriber(SUBJECT, queue="echo")
    async def echo(body: Any) -> Any:
        return {"ok": True, "result": body}

    return FastStream(broker, logger=None)


def http_app(nats_url: str) -> FastAPI:
    broker = NatsBroker(nats_url, logger=None)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await broker.start()
        yield
        await broker.stop()

    app = FastAPI(lifespan=lifespan)

    @app.get("/echo")
    async def echo(i: int = 0) -> Any:
        try:
            msg = await broker.connection.request(SUBJECT, b'{"i": %d}' % i, timeout=5)
        except NoRespondersError:  # the echo is not subscribed yet: the readiness poll asks again
            raise HTTPException(503) from None
        return msg.data.decode()

    return app


def main() -> None:
    role, nats_url = sys.argv[1], sys.argv[2]
    if role == "echo":
        asyncio.run(echo_app(nats_url).run())
    else:
        uvicorn.run(
            http_app(nats_url), host="127.0.0.1", port=int(sys.argv[3]), access_log=False, log_level="warning"
        )


if __name__ == "__main__":
    main()

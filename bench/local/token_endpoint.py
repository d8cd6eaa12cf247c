"""A small, fast OAuth token endpoint of ours on loopback, for the refresh benchmark and tests.

Plain asyncio HTTP/1.1 with keep-alive (no framework), so the endpoint is never the
bottleneck being measured. It answers ``grant_type=refresh_token`` with a new pair,
records when each refresh token arrived, and can misbehave on purpose: fail the next
N requests with 503 (+ Retry-After), answer ``invalid_grant``, or omit the refresh token.

``GET /__stats`` returns counters; ``GET /__records`` returns ``[[refresh_token, epoch], ...]``.
Run standalone: ``python -m bench.local.token_endpoint --port 0`` prints the port on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Behaviour:
    """How the endpoint answers; tests change it between calls."""

    fail_next: int = 0
    fail_status: int = 503
    retry_after: str | None = None
    invalid_grant: bool = False
    omit_refresh_token: bool = False
    expires_in: int = 3600
    delay: float = 0.0


@dataclass
class TokenEndpoint:
    """The server state: behaviour, counters, arrival records."""

    behaviour: Behaviour = field(default_factory=Behaviour)
    record: bool = True
    requests: int = 0
    failures: int = 0
    records: list[tuple[str, float]] = field(default_factory=list)
    bodies: list[dict[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    async def start(self, port: int = 0) -> TokenEndpoint:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port, backlog=1024)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)
                }
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                status, extra, payload = await self._answer(request_line, headers, body)
                writer.write(_response(status, extra, payload))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _answer(
        self, request_line: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        method, path, _ = request_line.split(" ", 2)
        if method == "GET" and path == "/__stats":
            return (
                200,
                {},
                {"requests": self.requests, "failures": self.failures, "records": len(self.records)},
            )
        if method == "GET" and path == "/__records":
            return 200, {}, self.records
        form = dict(parse_qsl(body.decode()))
        self.requests += 1
        if self.record:
            self.records.append((form.get("refresh_token", ""), time.time()))
            if len(self.bodies) < 1000:  # tests look at the first ones; the benchmark must not grow memory
                self.bodies.append(form)
                self.headers.append(headers)
        return await self._token(form)

    async def _token(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        rules = self.behaviour
        if rules.delay:
            await asyncio.sleep(rules.delay)
        if rules.fail_next > 0:
            rules.fail_next -= 1
            self.failures += 1
            extra = {"Retry-After": rules.retry_after} if rules.retry_after else {}
            return rules.fail_status, extra, {"error": "temporarily_unavailable"}
        if rules.invalid_grant:
            self.failures += 1
            return 400, {}, {"error": "invalid_grant", "error_description": "refresh token revoked"}
        n = next(self._ids)
        answer: dict[str, Any] = {
            "access_token": f"at-{n}",
            "token_type": "Bearer",
            "expires_in": rules.expires_in,
        }
        if not rules.omit_refresh_token:
            answer["refresh_token"] = f"rt-{n}-{form.get('refresh_token', '')[:16]}"
        return 200, {}, answer


_REASONS = {
    200: "OK",
    400: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Unavailable",
}


def _response(status: int, extra: dict[str, str], payload: Any) -> bytes:
    body = json.dumps(payload).encode()
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        *(f"{k}: {v}" for k, v in extra.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _main(port: int) -> None:
    endpoint = await TokenEndpoint().start(port)
    print(endpoint.port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await endpoint.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(_main(parser.parse_args().port))

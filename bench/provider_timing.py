"""A timing reverse proxy in front of the OAuth server's token and user-info endpoints, for
``bench completion``: the provider's own time of each flow, to subtract from its latency.

Every request is forwarded as it came (method, path, query, headers, body) over a kept-alive
connection; the upstream time is taken from the request sent to the answer read, and kept under
the user the answer is for: the ``sub`` of the token answer's ``id_token`` (the flows ask
``openid``) or of the user-info answer. The test OAuth server names a user's subject by the login
typed on its consent page, so a flow's user id finds its two upstream times.

What the proxy itself costs (its hop in and out, its parsing) is not in those times: it counts as
the engine's when subtracted, so the engine's share measured through it is an over-estimate.

``python -m bench.provider_timing <upstream base URL> <port>``; ``GET /__timings`` answers
``{"token": {sub: [seconds, ...]}, "user_info": {sub: [seconds, ...]}}``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
from aiohttp import web

from tools.launcher import embedded

TIMINGS_PATH = "/__timings"
# Hop-by-hop and per-connection headers are the proxy's own to set.
_DROP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding"}


def subject_of(kind: str, body: bytes) -> str | None:
    """The user an upstream answer is for: ``sub`` of a token answer's id_token, or of user info."""
    try:
        data = json.loads(body)
        if kind == "user_info":
            return str(data["sub"])
        payload = data["id_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"])
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def kind_of(path: str) -> str:
    return "token" if path.rstrip("/").endswith("/token") else "user_info"


class TimingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.timings: dict[str, dict[str, list[float]]] = {
            "token": defaultdict(list),
            "user_info": defaultdict(list),
        }
        self.session: aiohttp.ClientSession | None = None

    async def forward(self, request: web.Request) -> web.Response:
        if request.path == TIMINGS_PATH:
            return web.json_response(self.timings)
        if self.session is None:
            self.session = aiohttp.ClientSession(auto_decompress=False)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        url = f"{self.upstream}{request.path_qs}"
        sent = time.perf_counter()
        async with self.session.request(
            request.method, url, headers=headers, data=body, allow_redirects=False
        ) as answer:
            data = await answer.read()
            upstream_s = time.perf_counter() - sent
            reply_headers = {k: v for k, v in answer.headers.items() if k.lower() not in _DROP}
            status = answer.status
        kind = kind_of(request.path)
        sub = subject_of(kind, data) or "?"
        self.timings[kind][sub].append(upstream_s)
        return web.Response(status=status, body=data, headers=reply_headers)

    async def close(self, _app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()


@contextlib.contextmanager
def timing_proxy(upstream: str) -> Iterator[str]:
    """The proxy in a process of its own (so its work never waits on the load generator's loop);
    yields its base URL, to use in place of ``upstream``'s."""
    port = embedded.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.provider_timing", upstream, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + TIMINGS_PATH, timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def timings(base: str) -> dict[str, dict[str, list[float]]]:
    found: dict[str, Any] = httpx.get(base + TIMINGS_PATH, timeout=10).json()
    return found


def main() -> None:
    upstream, port = sys.argv[1], int(sys.argv[2])
    app = web.Application()
    proxy = TimingProxy(upstream)
    app.router.add_route("*", "/{tail:.*}", proxy.forward)
    app.on_cleanup.append(proxy.close)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()

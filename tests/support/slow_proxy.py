"""A delaying HTTP proxy in front of one endpoint (the test OAuth server's token endpoint).

Each POST is held ``delay`` seconds, then forwarded as it came (path, headers, body) and
its answer passed back. Tests use it to keep the engine inside a code exchange long enough
to kill a process there; ``arrived`` counts the requests that reached it, so a test can
wait until every exchange is in flight before it kills.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

import httpx

# Headers the proxy sets itself (or that describe the hop, not the request).
_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


class SlowProxy:
    """Forwards POSTs to ``target`` (an origin, e.g. ``http://127.0.0.1:4000``) after ``delay`` seconds."""

    def __init__(self, target: str, *, delay: float = 0.0) -> None:
        self.target = target.rstrip("/")
        self.delay = delay
        self._arrived = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def arrived(self) -> int:
        with self._lock:
            return self._arrived

    def wait_for_arrivals(self, count: int, timeout: float) -> None:
        """Block until ``count`` requests reached the proxy since start.

        Raises:
            TimeoutError: Fewer arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while self.arrived < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.arrived} of {count} requests reached the proxy")
            time.sleep(0.02)

    def _count(self) -> None:
        with self._lock:
            self._arrived += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                proxy._count()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                try:
                    answer = httpx.post(
                        proxy.target + self.path, content=body, headers=headers, trust_env=False, timeout=10
                    )
                except httpx.HTTPError:
                    self.send_error(502)
                    return
                try:
                    self._answer(answer)
                except OSError:  # the engine went away meanwhile (a test killed it)
                    return

            def _answer(self, answer: httpx.Response) -> None:
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in _HOP_HEADERS | {"content-encoding"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

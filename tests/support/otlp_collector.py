"""A tiny OTLP/HTTP traces collector on loopback: ``POST /v1/traces`` with a protobuf
``ExportTraceServiceRequest``, the wire the engine's exporter speaks (``OTEL_EXPORTER_OTLP_ENDPOINT``).

It keeps every span it receives (or, with ``decode=False``, only counts the exports).
``python -m tests.support.otlp_collector PORT`` runs such a counting sink as its own process,
for the benchmarks: what the engine exports then costs the load generator nothing.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(frozen=True)
class ExportedSpan:
    """One span as the collector received it; ids in hex, ``parent_id`` empty for a root."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    error: bool
    links: tuple[tuple[str, str], ...] = ()  # (trace id, span id) of each span it links to


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    return getattr(value, which) if which else None


def _spans(request: ExportTraceServiceRequest) -> list[ExportedSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ExportedSpan(
                        service=str(resource.get("service.name", "")),
                        name=span.name,
                        kind=KINDS.get(span.kind, "unspecified"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        error=span.status.code == 2,
                        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                    )
                )
    return spans


@dataclass
class OtlpCollector:
    """Receives OTLP/HTTP trace exports on a free loopback port while open (a context manager)."""

    decode: bool = True
    spans: list[ExportedSpan] = field(default_factory=list)
    exports: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "the collector is not open"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def received(self, body: bytes) -> None:
        with self._lock:
            self.exports += 1
            if self.decode:
                self.spans.extend(_spans(ExportTraceServiceRequest.FromString(body)))

    def wait_for(
        self, found: Callable[[list[ExportedSpan]], bool], timeout: float = 30.0
    ) -> list[ExportedSpan]:
        """Every span received once ``found(spans)`` holds; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                spans = list(self.spans)
            if found(spans):
                return spans
            if time.monotonic() > deadline:
                names = sorted({(s.service, s.name) for s in spans})
                raise AssertionError(f"the collector never received the spans sought; it holds {names}")
            time.sleep(0.1)

    def __enter__(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler(collector: OtlpCollector) -> type[BaseHTTPRequestHandler]:
    answer = ExportTraceServiceResponse().SerializeToString()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            collector.received(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: Any) -> None:  # quiet: the test reads the spans, not the access log
            return

    return Handler


def main(argv: list[str]) -> None:
    """Serve a counting sink on ``argv[0]`` (a loopback port) until killed."""
    sink = OtlpCollector(decode=False)
    server = ThreadingHTTPServer(("127.0.0.1", int(argv[0])), _handler(sink))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])

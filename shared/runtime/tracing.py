"""OpenTelemetry traces, off unless the environment asks for them (``OTEL_*``).

:func:`setup_tracing` runs once per process, from ``shared.runtime.service.main`` before the
service is built. When the environment names no exporter it does nothing: no SDK is loaded,
the API's tracer is its no-op one, and the NATS request-reply path skips even that after one
check of :func:`enabled`. When it does, spans go in batches to an OTLP/HTTP (protobuf)
collector, read from the standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``,
``OTEL_TRACES_SAMPLER``), with ``service.name`` the valetkey service's name and engine.yaml's
``telemetry.environment`` and ``telemetry.version`` as the resource's environment and version.

One trace follows a request across processes: the gateway's HTTP server span, each NATS
request-reply hop (a client span whose W3C ``traceparent``/``tracestate`` travel in the
message's headers, and a server span on the answering side), Redis commands, provider calls
(aiohttp) and worker calls (httpx). Work that finishes something an earlier request began
(an authorization's callback) keeps that request's ``traceparent`` and resumes its trace
(:func:`resumed`), linked to the request that set it off. An event keeps the ``traceparent``
of the work that committed it in its outbox entry, and travels to JetStream with it in its
headers; the webhook deliveries it causes (and their retries, queued on JetStream with the
same headers) are spans of that trace, and each POST tells its receiver in ``traceparent``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from shared.errors import ConfigError
from shared.runtime.config_arcade import TelemetryConfig

# Any of these names an exporter; OTEL_TRACES_EXPORTER=none (or OTEL_SDK_DISABLED=true) says no.
_REQUESTING = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER")
_SUPPORTED_PROTOCOL = "http/protobuf"
# Probes and scrapes: a span each would bury the requests worth reading.
_UNTRACED_PATHS = "/livez,/readyz,/metrics"
_TRACER = "valetkey"
# The current semantic conventions' name of the environment (the SDK exports the older one).
_ENVIRONMENT_NAME = "deployment.environment.name"

_enabled = False
# What every helper gives with tracing off: one stateless context, shared, so a message or an
# attempt allocates nothing for tracing (``with`` it yields None).
OFF: AbstractContextManager[Any] = nullcontext()


def requested(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` asks for traces: an OTLP endpoint or a traces exporter, not switched off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in _REQUESTING)


def enabled() -> bool:
    """True once :func:`setup_tracing` installed the SDK in this process."""
    return _enabled


def setup_tracing(
    service: str, environ: Mapping[str, str] = os.environ, *, telemetry: TelemetryConfig | None = None
) -> bool:
    """Install the SDK's tracer provider, its OTLP/HTTP exporter and the library instrumentations.

    Does nothing (and returns False) unless :func:`requested`; a second call changes nothing.
    engine.yaml's ``telemetry`` names the resource's environment and version (:func:`resource`).

    Raises:
        ConfigError: An exporter or protocol other than OTLP over HTTP/protobuf is asked for.
    """
    global _enabled
    if _enabled or not requested(environ):
        return _enabled
    _check_supported(environ)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=resource(service, telemetry))  # flushed at interpreter exit
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _instrument_libraries(provider)
    _enabled = True
    return True


def resource(service: str, telemetry: TelemetryConfig | None = None) -> Any:
    """The spans' resource: ``service.name`` the valetkey service, in namespace ``valetkey``.

    ``telemetry.environment`` is ``deployment.environment.name`` (and the older
    ``deployment.environment``), ``telemetry.version`` is ``service.version``, as in Arcade's
    engine; ``OTEL_RESOURCE_ATTRIBUTES`` wins where it names them, as ``VALETKEY_LOG_*`` win over
    ``telemetry.logging``. The service's name wins over ``OTEL_SERVICE_NAME``: every process of
    one engine shares its environment.
    """
    from opentelemetry.sdk.resources import (
        DEPLOYMENT_ENVIRONMENT,
        SERVICE_NAME,
        SERVICE_NAMESPACE,
        SERVICE_VERSION,
        Resource,
    )

    configured: dict[str, str] = {}
    if telemetry is not None and telemetry.environment:
        configured |= {
            DEPLOYMENT_ENVIRONMENT: telemetry.environment,
            _ENVIRONMENT_NAME: telemetry.environment,
        }
    if telemetry is not None and telemetry.version:
        configured[SERVICE_VERSION] = telemetry.version
    detected = Resource.create({SERVICE_NAME: service, SERVICE_NAMESPACE: "valetkey"})
    return Resource(configured).merge(detected)


def _check_supported(environ: Mapping[str, str]) -> None:
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter not in ("", "otlp"):
        raise ConfigError(f"{exporter!r} is not supported: use otlp or none", key="OTEL_TRACES_EXPORTER")
    for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        protocol = environ.get(name, "").strip().lower()
        if protocol not in ("", _SUPPORTED_PROTOCOL):
            raise ConfigError(f"{protocol!r} is not supported: use {_SUPPORTED_PROTOCOL}", key=name)


def _instrument_libraries(provider: Any) -> None:
    """Redis commands (arguments masked as ``?``), aiohttp calls (providers, webhooks) and httpx
    calls (workers) become spans; clients built afterwards, and before, are covered alike."""
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().instrument(tracer_provider=provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=provider, url_filter=_shown_url)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)


def _without_query(url: Any) -> str:
    """A provider URL as a span records it: a query may carry a token (user info) or a code."""
    return str(url.with_query(None).with_fragment(None))


def _origin(url: Any) -> str:
    return str(url.origin())


_url_shown: Callable[[Any], str] = _without_query


def _shown_url(url: Any) -> str:
    return _url_shown(url)


def hide_url_paths() -> None:
    """From now on the process's aiohttp spans record a URL's origin only: a webhook URL's path
    may be its secret (a capability URL), like a query elsewhere."""
    global _url_shown
    _url_shown = _origin


def http_server(app: Any, *, route_of: Callable[[Any], str | None]) -> Any:
    """``app`` inside an HTTP server span per request (W3C context read from the request's headers).

    The span is named after the route template ``route_of(scope)`` gives once the request is
    routed (``GET /v1/auth/status``); its URL attributes pass the log redaction:
    ``/oauth/callback`` carries the code and state.
    """
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        _RouteNames(app, route_of),
        excluded_urls=_UNTRACED_PATHS,
        server_request_hook=_redact_url_attributes,
        exclude_spans=["receive", "send"],
    )


class _RouteNames:
    """Names the current (server) span ``<method> <route>`` as the response starts."""

    def __init__(self, app: Any, route_of: Callable[[Any], str | None]) -> None:
        self.app = app
        self.route_of = route_of

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def named(message: Any) -> None:
            route = self.route_of(scope) if message["type"] == "http.response.start" else None
            current = trace.get_current_span()
            if route and current.is_recording():
                current.update_name(f"{scope['method']} {route}")
                current.set_attribute("http.route", route)
            await send(message)

        await self.app(scope, receive, named)


def _redact_url_attributes(span: Any, _scope: Any) -> None:
    from shared.runtime.logging import redact

    attributes = getattr(span, "attributes", None) or {}
    for name in ("http.target", "http.url", "url.query", "url.full"):
        value = attributes.get(name)
        if isinstance(value, str):
            span.set_attribute(name, redact(value))


@contextmanager
def _nats_client(subject: str, kind: SpanKind, parent: Context | None = None) -> Iterator[dict[str, str]]:
    tracer = trace.get_tracer(_TRACER)
    attributes = {"messaging.system": "nats", "messaging.destination.name": subject}
    operation = "send" if kind == SpanKind.CLIENT else "publish"
    with tracer.start_as_current_span(
        f"{operation} {subject}", context=parent, kind=kind, attributes=attributes
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers


def nats_request(subject: str) -> AbstractContextManager[dict[str, str] | None]:
    """A client span for one request on ``subject``; yields the headers that carry its context
    (``None`` when tracing is off: the request goes without headers)."""
    return _nats_client(subject, SpanKind.CLIENT) if _enabled else OFF


def nats_publish(
    subject: str, traceparent: str | None = None
) -> AbstractContextManager[dict[str, str] | None]:
    """A producer span for one event published on ``subject``, like :func:`nats_request`, in
    the trace ``traceparent`` names (the work that committed the event, kept in its outbox
    entry) or else the current one; an event from no traced work gets none."""
    if not _enabled:
        return OFF
    if traceparent:
        return _nats_client(subject, SpanKind.PRODUCER, propagate.extract({"traceparent": traceparent}))
    if not trace.get_current_span().get_span_context().is_valid:
        return OFF
    return _nats_client(subject, SpanKind.PRODUCER)


def carry(headers: dict[str, str]) -> None:
    """Add the current span's W3C context to a message's ``headers``; nothing when tracing is off."""
    if _enabled:
        propagate.inject(headers)


@contextmanager
def _nats_server(subject: str, headers: Mapping[str, str] | None, kind: SpanKind) -> Iterator[Any]:
    parent = propagate.extract(headers or {})
    tracer = trace.get_tracer(_TRACER)
    attributes = {"messaging.system": "nats", "messaging.destination.name": subject}
    with tracer.start_as_current_span(
        f"process {subject}", context=parent, kind=kind, attributes=attributes
    ) as span:
        yield span


def nats_serve(subject: str, headers: Mapping[str, str] | None) -> AbstractContextManager[Any]:
    """A server span for one request received on ``subject``, child of the context in ``headers``."""
    return _nats_server(subject, headers, SpanKind.SERVER) if _enabled else OFF


def nats_consume(subject: str, headers: Mapping[str, str] | None) -> AbstractContextManager[Any]:
    """A consumer span for one JetStream message on ``subject``, child of the context in its
    ``headers`` (the producer's, :func:`nats_publish` or :func:`carry`); a root span without one."""
    return _nats_server(subject, headers, SpanKind.CONSUMER) if _enabled else OFF


def mark_failed(span: Any, code: str) -> None:
    """Record on ``span`` (when it is one) that the request failed with the error ``code``."""
    if span is not None:
        span.set_attribute("error.type", code)
        span.set_status(Status(StatusCode.ERROR, code))


def span(name: str, **attributes: str) -> AbstractContextManager[Any]:
    """An internal span around a piece of work (a tool call); nothing when tracing is off."""
    if not _enabled:
        return OFF
    return trace.get_tracer(_TRACER).start_as_current_span(name, attributes=attributes)


def trace_context() -> str | None:
    """The current span's W3C ``traceparent``, kept to resume its trace later (:func:`resumed`);
    None when tracing is off or no span is current."""
    if not _enabled:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def _resumed(name: str, traceparent: str | None, attributes: Mapping[str, str]) -> Iterator[Any]:
    tracer = trace.get_tracer(_TRACER)
    here = trace.get_current_span().get_span_context()
    parent = propagate.extract({"traceparent": traceparent} if traceparent else {})
    there = trace.get_current_span(parent).get_span_context()
    if not there.is_valid or there.trace_id == here.trace_id:  # nothing kept, or inside it already
        with tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span
        return
    links = [Link(here)] if here.is_valid else []
    with tracer.start_as_current_span(name, context=parent, links=links, attributes=attributes) as span:
        yield span


def resumed(name: str, traceparent: str | None, **attributes: str) -> AbstractContextManager[Any]:
    """A span in the trace ``traceparent`` names (from :func:`trace_context`, in an earlier
    request), linked to the current span: the work it wraps finishes what that request began.

    Without a ``traceparent``, or already inside its trace, an ordinary child span; nothing
    when tracing is off.
    """
    return _resumed(name, traceparent, attributes) if _enabled else OFF


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids as hex, when it is sampled (exported).

    Ended spans count: the HTTP server span ends with the response's last byte, just before
    the request's log line is written inside it.
    """
    context = trace.get_current_span().get_span_context()
    if not (context.is_valid and context.trace_flags.sampled):
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")

"""NATS plumbing shared by every service: the broker, request-reply with errors, streams, health.

Replies always travel in an envelope, ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": {"name", "message", ...}}``, because a FastStream handler
that raises sends no reply and its caller would wait out the whole timeout.
:func:`answer` validates the request, runs the use case and turns every outcome
into an envelope; :class:`RpcClient` turns the envelope back
into a result or the same :class:`ValetkeyError` the service raised. A result the gateway may
cache (:class:`~shared.bus.answers.Cacheable`) adds ``"fresh_until"`` to a successful envelope:
epoch seconds, or ``null`` for no limit of its own; without it the answer is not cacheable.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

from faststream.nats import NatsBroker
from faststream.nats.security import NatsSecurity
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from pydantic import BaseModel, ValidationError

from shared.bus import subjects
from shared.bus.answers import Cacheable
from shared.bus.sealing import BusSeal, is_sealed
from shared.errors import BadRequest, SealError, ServiceUnavailable, ValetkeyError, error_from_payload
from shared.runtime import jsontext, tracing
from shared.runtime.logging import get_logger, request_line_due

log = get_logger(__name__)

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

EVENTS_MAX_AGE_SECONDS = 7 * 24 * 3600
# Messages one request-reply subscriber handles at once. FastStream handles them one by one
# by default, which serialises every Redis and provider round trip behind the previous one.
RPC_WORKERS = 64
# nats.micro's error header: the error's name (shared/bus/rpc.py sets it beside the envelope).
SERVICE_ERROR = "Nats-Service-Error"


def create_broker(
    url: str | list[str],
    *,
    name: str,
    graceful_timeout: float = 15.0,
    security: NatsSecurity | None = None,
    inbox_prefix: str = "_INBOX",
) -> NatsBroker:
    """A FastStream NATS broker that reconnects forever and drains on shutdown.

    Args:
        security: The service's NATS user and TLS (``shared.bus.access.nats_security``).
        inbox_prefix: Where replies to its requests arrive; a service's user may read only its own.
    """
    return NatsBroker(
        url,
        name=name,
        security=security,
        inbox_prefix=inbox_prefix,
        error_cb=_bus_error,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        graceful_timeout=graceful_timeout,
        logger=None,
    )


async def _bus_error(error: Exception) -> None:
    """What the server refused (a permissions violation: the matrix of ``shared.bus.permissions``
    lacks a subject this service uses) or a lost connection; nats-py reports and carries on."""
    log.warning("nats.error", error=type(error).__name__, detail=str(error))


class Reply(NamedTuple):
    """An encoded reply envelope, and the error it carries (``None`` when ``ok``)."""

    data: bytes
    error: ValetkeyError | None = None


def _error_reply(error: ValetkeyError) -> Reply:
    data = json.dumps({"ok": False, "error": error.to_payload()}, separators=(",", ":")).encode()
    return Reply(data, error)


_NO_RESULT = Reply(b'{"ok":true,"result":null}')
# Errors that mean a store is away for a moment (Redis's, registered by shared/runtime/redisio.py
# when a service builds a client; the gateway has none): answered 503, the caller may retry.
_store_away: list[Callable[[BaseException], bool]] = []


def treat_as_unavailable(is_away: Callable[[BaseException], bool]) -> None:
    """Answer the errors ``is_away`` recognises with a retryable ``service_unavailable``, not a
    crash (registered once per kind; a second registration of the same check is ignored)."""
    if is_away not in _store_away:
        _store_away.append(is_away)


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"failed to validate request body: {where}: {first['msg']}"


def _validated(model: type[M], body: Any) -> M:
    """``body`` (the request's bytes, or data already decoded) as ``model``.

    pydantic-core parses the bytes itself, a third of ``json.loads`` and validating the result;
    whatever it refuses (invalid JSON, a lone surrogate, an invalid request) goes the standard
    library's way, which accepts the same JSON and gives the same errors as before.
    """
    if isinstance(body, dict):
        return model.model_validate(body)
    if isinstance(body, bytes):
        try:
            return model.model_validate_json(body or b"{}")
        except ValidationError:
            pass
    return model.model_validate(json.loads(body or b"{}"))


Result = BaseModel | Cacheable[Any] | None


async def answer(model: type[M], body: Any, use_case: Callable[[M], Awaitable[Result]]) -> Reply:
    """Validate ``body`` as ``model``, run ``use_case`` and encode any outcome as the reply envelope."""
    started = time.perf_counter()
    try:
        request = _validated(model, body)
    except (ValidationError, ValueError, TypeError) as exc:
        message = _validation_message(exc) if isinstance(exc, ValidationError) else "request is not JSON"
        return _error_reply(BadRequest(message))
    try:
        result = await use_case(request)
    except ValetkeyError as exc:
        log.info("rpc.failed", message_type=model.__name__, error=exc.code, detail=exc.message)
        return _error_reply(exc)
    except Exception as exc:
        if any(is_away(exc) for is_away in _store_away):
            log.warning("rpc.store_unavailable", message_type=model.__name__, error=type(exc).__name__)
            away = ServiceUnavailable("the engine's store is unavailable for a moment; try again")
            return _error_reply(away)
        log.exception("rpc.crashed", message_type=model.__name__)
        return _error_reply(ValetkeyError("internal error"))
    if request_line_due():
        log.info(
            "rpc.handled", message_type=model.__name__, ms=round((time.perf_counter() - started) * 1000, 2)
        )
    if result is None:
        return _NO_RESULT
    # pydantic-core writes the result's JSON; only the envelope's frame is added here.
    if isinstance(result, Cacheable):
        return Reply(
            b'{"ok":true,"result":' + result.result.model_dump_json().encode() + _until(result) + b"}"
        )
    return Reply(b'{"ok":true,"result":' + result.model_dump_json().encode() + b"}")


def _until(cacheable: Cacheable[Any]) -> bytes:
    until = cacheable.fresh_until
    return b',"fresh_until":' + (b"null" if until is None else repr(until.timestamp()).encode())


#: ``fresh_until`` of an answer that is not cacheable (:meth:`RpcClient.call_fresh`).
NOT_CACHEABLE = -math.inf


class RpcClient:
    """Request-reply over the raw nats-py connection, the cheap path (docs/nats.md, "Request-reply").

    Requests and replies are sealed under the bus key (``shared/bus/sealing.py``), but for a
    replica's own health ping.

    Args:
        nc: A connected nats-py client (``broker.connection`` of a started broker).
        seal: The bus key's seal (``Settings.bus_seal``).
        timeout: Default seconds to wait for a reply.
    """

    def __init__(self, nc: NatsClient, *, seal: BusSeal, timeout: float = 10.0) -> None:
        self._nc = nc
        self._seal = seal
        self._timeout = timeout

    async def call_raw(self, subject: str, request: BaseModel, *, timeout: float | None = None) -> Any:
        """Send a request and return the ``result`` part of the envelope as plain JSON data.

        Raises:
            ServiceUnavailable: Nobody answers on ``subject``, or not within the timeout.
            SealError: The reply is not sealed for this request (or the service refused ours).
            ValetkeyError: The error the serving side reported.
        """
        return (await self._envelope(subject, request, timeout)).get("result")

    async def call_fresh(
        self, subject: str, request: BaseModel, *, timeout: float | None = None
    ) -> tuple[Any, float]:
        """Like :meth:`call_raw`, with the epoch second until which the server lets the answer be
        repeated: ``math.inf`` for no limit of its own, :data:`NOT_CACHEABLE` when it may not be."""
        envelope = await self._envelope(subject, request, timeout)
        if "fresh_until" not in envelope:
            return envelope.get("result"), NOT_CACHEABLE
        until = envelope["fresh_until"]
        return envelope.get("result"), math.inf if until is None else float(until)

    async def _envelope(self, subject: str, request: BaseModel, timeout: float | None) -> dict[str, Any]:
        if not self._nc.is_connected:  # reconnecting: nobody could answer before the timeout
            raise ServiceUnavailable("the message bus is not reachable; retry shortly")
        data = request.model_dump_json().encode()
        sealed = is_sealed(subject)
        if sealed:
            data = self._seal.seal_request(subject, data)
        # With tracing on, a client span whose context travels in the headers (W3C traceparent).
        with tracing.nats_request(subject) as headers:
            try:
                msg = await self._nc.request(subject, data, timeout=timeout or self._timeout, headers=headers)
            except NoRespondersError as exc:
                raise ServiceUnavailable(f"no service is answering {subject}") from exc
            except NatsTimeoutError as exc:
                raise ServiceUnavailable(f"timed out waiting for {subject}") from exc
            body = self._open(subject, data, msg) if sealed else msg.data
            envelope: dict[str, Any] = jsontext.loads(body)
            if not envelope.get("ok"):
                raise error_from_payload(envelope.get("error") or {})
        return envelope

    def _open(self, subject: str, request: bytes, msg: Msg) -> bytes:
        try:
            return self._seal.open_reply(subject, BusSeal.request_id(request), msg.data)
        except SealError as exc:
            refusal = (msg.headers or {}).get(SERVICE_ERROR)
            if refusal:  # the service could not open our request: its reason, unsealed, in micro's header
                raise SealError(f"{subject}: the service refused the request: {refusal}") from exc
            raise

    async def call(
        self, subject: str, request: BaseModel, result: type[R], *, timeout: float | None = None
    ) -> R:
        """Like :meth:`call_raw`, validating the result as ``result``."""
        return result.model_validate(await self.call_raw(subject, request, timeout=timeout))


async def ensure_stream(js: JetStreamContext, config: StreamConfig, *, replicas: int = 1) -> None:
    """Create a stream, or bring an existing one to ``config`` (idempotent across replicas).

    ``replicas``: the copies JetStream keeps (``VALETKEY_JETSTREAM_REPLICAS``); an existing stream
    is brought to it too, so a single-node engine moved onto a cluster gains its copies.
    """
    config.num_replicas = replicas
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def ensure_streams(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create (or update) the events stream: file storage, 7 days, 2-minute duplicate window."""
    config = StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.EVENTS_ALL],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=EVENTS_MAX_AGE_SECONDS,
        duplicate_window=120,
    )
    await ensure_stream(js, config, replicas=replicas)

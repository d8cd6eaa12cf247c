"""Every error leaves the gateway in Arcade's shape ``{"name", "message"}``; never a stack trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nats.errors import MaxPayloadError
from pydantic_core import PydanticSerializationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from services.gateway.wire import JsonAnswer
from shared.errors import (
    BadRequest,
    MethodNotAllowed,
    RateLimited,
    RouteNotFound,
    UnsupportedMediaType,
    ValetkeyError,
)
from shared.runtime.logging import get_logger

log = get_logger(__name__)


class PayloadTooLarge(ValetkeyError):
    code = "payload_too_large"
    status = 413


def allowed_methods(request: Request, exc: StarletteHTTPException) -> str:
    """Every method served at this path: Starlette's ``Allow`` names only the first route's.

    The app's OpenAPI document lists each path's methods; routes kept out of it (the
    browser pages) still get Starlette's own answer.
    """
    methods = set((exc.headers or {}).get("Allow", "").replace(" ", "").split(",")) - {""}
    for path, operations in request.app.openapi().get("paths", {}).items():
        if compile_path(path)[0].match(request.url.path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


def error_response(error: ValetkeyError) -> JSONResponse:
    """The error body; ``x-should-retry`` overrides the clients' retry rule.

    See docs/arcade-compatibility.md §1.4.
    """
    headers = {"x-should-retry": "true" if error.retryable else "false"}
    if error.status == 503:
        headers["Retry-After"] = "1"
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    return JsonAnswer(error.to_payload(), status_code=error.status, headers=headers)


def validation_message(errors: Sequence[Any]) -> str:
    """The 400 message for validation errors (FastAPI's or pydantic's): the first one, where."""
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid"}
    if first.get("type") == "json_invalid":
        return "failed to validate request body: not valid JSON"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return f"failed to validate request: {where}: {first.get('msg', 'invalid')}"


def client_error(exc: Exception) -> ValetkeyError | None:
    """The client's error behind an exception raised while forwarding its request, if it is one
    (also asked by the fast lane, which answers beneath these handlers)."""
    # JSON may spell a lone surrogate ("\\ud800") that no UTF-8 message can carry on.
    if isinstance(exc, PydanticSerializationError) and "surrogates not allowed" in str(exc):
        return BadRequest("request contains a lone UTF-16 surrogate")
    if isinstance(exc, MaxPayloadError):
        return PayloadTooLarge("request too large to forward to the engine's services")
    return None


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the error body."""

    @app.exception_handler(ValetkeyError)
    async def on_valetkey_error(_: Request, exc: ValetkeyError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(BadRequest(validation_message(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            allowed = allowed_methods(request, exc)
            response = error_response(
                MethodNotAllowed(f"{request.method} is not allowed here; allowed: {allowed}")
            )
            response.headers["Allow"] = allowed
            return response
        if exc.status_code == 404:
            return error_response(RouteNotFound("requested route is not found"))
        if exc.status_code == 415:
            return error_response(UnsupportedMediaType(str(exc.detail)))
        if exc.status_code == 413:
            limit = request.app.state.gateway.max_body_bytes
            return error_response(PayloadTooLarge(f"request body larger than {limit} bytes"))
        return error_response(BadRequest(str(exc.detail)))

    @app.exception_handler(PydanticSerializationError)
    async def on_unencodable(request: Request, exc: PydanticSerializationError) -> JSONResponse:
        error = client_error(exc)
        return error_response(error) if error else await on_crash(request, exc)

    @app.exception_handler(MaxPayloadError)
    async def on_too_large_for_nats(_: Request, exc: MaxPayloadError) -> JSONResponse:
        error = client_error(exc)
        assert error is not None
        return error_response(error)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.crashed", path=request.url.path)
        return error_response(ValetkeyError("internal error"))

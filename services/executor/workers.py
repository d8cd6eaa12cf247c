"""The engine side of the worker protocol: an arcade-serve (or arcade-mcp-server) worker over HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
from arcade_core.errors import ErrorKind

from services.executor.responses import failed_response
from shared.errors import ConfigError, ServiceUnavailable, ValetkeyError

# Failures after which the request was certainly never sent: safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# A worker's 5xx on invoke: arcade-serve answers 500 for an unknown tool or a
# crash; 503/504 come from a proxy in front of it.
_INVOKE_STATUS_KINDS = {
    503: ErrorKind.NETWORK_TRANSPORT_RUNTIME_UNREACHABLE,
    504: ErrorKind.NETWORK_TRANSPORT_RUNTIME_TIMEOUT,
}


class RemoteWorker:
    """An arcade-serve (or arcade-mcp-server) worker reached over HTTP.

    Each request carries a fresh HS256 JWT ``{"aud": "worker", "ver": "1"}``
    valid for 60 s. GETs are idempotent and are retried on connection errors,
    timeouts and 5xx. An invoke is retried only when the request was certainly
    never sent (connect error/timeout, pool timeout): after a read timeout or a
    5xx the tool may have run, and running a tool twice (a payment, an email)
    is worse than reporting a failure the agent can act on.

    Args:
        uri: Worker base URL, without ``/worker``.
        secret: The worker's shared secret (``ARCADE_WORKER_SECRET`` on its side).
        timeout_s: Per-request timeout, for connect and for the whole answer.
        retry: Extra attempts allowed after the first (engine.yaml ``retry``).
        http: Shared client; its own timeout is overridden per request.
        backoff_s: First pause between attempts; doubles each time.
    """

    def __init__(
        self,
        uri: str,
        secret: str,
        timeout_s: float,
        retry: int,
        http: httpx.AsyncClient,
        *,
        backoff_s: float = 0.2,
    ) -> None:
        self._uri = uri.rstrip("/")
        self._secret = secret
        self._timeout = httpx.Timeout(timeout_s)
        self._retry = max(0, retry)
        self._http = http
        self._backoff_s = backoff_s

    def _headers(self) -> dict[str, str]:
        now = int(time.time())
        claims = {"aud": "worker", "ver": "1", "iat": now, "exp": now + 60}
        return {"Authorization": f"Bearer {jwt.encode(claims, self._secret, algorithm='HS256')}"}

    async def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self._http.request(
            method, self._uri + path, json=body, headers=self._headers(), timeout=self._timeout
        )

    async def _attempts(
        self, method: str, path: str, body: Any, retry_on: tuple[type[Exception], ...]
    ) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._send(method, path, body)
                if method != "GET" or response.status_code < 500 or attempt >= self._retry:
                    return response
            except retry_on:
                if attempt >= self._retry:
                    raise
            await asyncio.sleep(self._backoff_s * 2**attempt)
            attempt += 1

    async def _get_json(self, path: str) -> Any:
        try:
            response = await self._attempts("GET", path, None, (httpx.TransportError,))
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"worker {self._uri} unreachable: {type(exc).__name__}") from exc
        if response.status_code in (401, 403):
            raise ConfigError(
                f"worker {self._uri} refused our credentials (HTTP {response.status_code}); "
                "its secret differs from ours",
                key="tools.directors[].workers[].http.secret",
            )
        if response.status_code >= 500:
            raise ServiceUnavailable(f"worker {self._uri} answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ValetkeyError(f"worker {self._uri} answered HTTP {response.status_code} to GET {path}")
        try:
            return response.json()
        except ValueError as exc:
            raise ValetkeyError(f"worker {self._uri} answered GET {path} with invalid JSON") from exc

    async def definitions(self) -> list[dict[str, Any]]:
        """Return the worker's ``GET /worker/tools``.

        Raises:
            ServiceUnavailable: Unreachable, timed out or 5xx after the retries.
            ConfigError: The worker refused our JWT (wrong secret).
            ValetkeyError: Any other unusable answer.
        """
        body = await self._get_json("/worker/tools")
        if not isinstance(body, list):
            raise ValetkeyError(f"worker {self._uri} returned a malformed tool list")
        return body

    async def health(self) -> dict[str, Any]:
        """Return the worker's ``GET /worker/health`` (same errors as :meth:`definitions`)."""
        body = await self._get_json("/worker/health")
        if not isinstance(body, dict):
            raise ValetkeyError(f"worker {self._uri} returned a malformed health answer")
        return body

    async def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send ``POST /worker/tools/invoke``; transport and auth failures become failed responses.

        Args:
            request: A ``ToolCallRequest`` dict.

        Returns:
            The worker's ``ToolCallResponse``, or one with ``success: false`` and
            kind ``NETWORK_TRANSPORT_RUNTIME_UNREACHABLE`` / ``..._TIMEOUT`` /
            ``..._UNMAPPED``, ``TOOLKIT_LOAD_FAILED`` (wrong secret) or
            ``TOOL_RUNTIME_FATAL`` (other HTTP errors).
        """
        execution_id, start = str(request.get("execution_id") or ""), time.monotonic()
        try:
            response = await self._attempts("POST", "/worker/tools/invoke", request, _NOT_SENT)
        except httpx.TransportError as exc:
            kind, message = _transport_failure(exc)
            return failed_response(execution_id, start, kind, message)
        answer = _invoke_answer(response)
        if isinstance(answer, tuple):
            return failed_response(execution_id, start, *answer)
        return answer


def _transport_failure(exc: httpx.TransportError) -> tuple[ErrorKind, str]:
    if isinstance(exc, _NOT_SENT):
        return ErrorKind.NETWORK_TRANSPORT_RUNTIME_UNREACHABLE, f"worker unreachable: {type(exc).__name__}"
    if isinstance(exc, httpx.TimeoutException):
        return ErrorKind.NETWORK_TRANSPORT_RUNTIME_TIMEOUT, "worker did not answer in time"
    return ErrorKind.NETWORK_TRANSPORT_RUNTIME_UNMAPPED, f"worker connection failed: {type(exc).__name__}"


def _invoke_answer(response: httpx.Response) -> dict[str, Any] | tuple[ErrorKind, str]:
    """The worker's ``ToolCallResponse``, or the (kind, message) of why it is not one."""
    status = response.status_code
    if status in (401, 403):
        message = f"worker refused the engine's credentials (HTTP {status}): the worker secret does not match"
        return ErrorKind.TOOLKIT_LOAD_FAILED, message
    if status >= 400:
        return _INVOKE_STATUS_KINDS.get(
            status, ErrorKind.TOOL_RUNTIME_FATAL
        ), f"worker answered HTTP {status}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
        return ErrorKind.NETWORK_TRANSPORT_RUNTIME_UNMAPPED, "worker returned a malformed answer"
    return body

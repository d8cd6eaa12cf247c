"""The engine as an MCP client: a remote MCP server over Streamable HTTP, as a tool source.

Session handling: one MCP session per operation (``initialize``, then ``tools/list`` or one
``tools/call``, then the session is closed) over one pooled HTTP client per worker. A server
restart, a load balancer switching replicas or a stateless server (most are) then never strands
a pooled session, at the cost of one ``initialize`` round trip per call. Listing is retried on
any failure (it is idempotent); a call only when it failed before ``tools/call`` was sent
(during ``initialize``), as :class:`~services.executor.workers.RemoteWorker` retries an invoke
only when it was never sent.

Headers (plain and secret) go on every request and are never logged. The server's tools are
named ``Toolkit.name`` (see :mod:`.mcp_definitions`); a tool's ``isError`` result is a failed
tool answer, a transport failure one with the ``NETWORK_TRANSPORT_RUNTIME_*`` kinds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import httpx2
from arcade_core.errors import ErrorKind
from arcade_core.output import output_factory
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from services.executor.mcp_definitions import from_mcp_tool, valid_tool_name
from services.executor.responses import failed_response, tool_response
from services.executor.worker_specs import WorkerSpec
from shared.errors import ConfigError, ServiceUnavailable, ValetkeyError
from shared.runtime.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")
_MAX_PAGES = 50


class _Refused(Exception):
    """The server answered 401 or 403: it does not accept our headers."""


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _cause(exc: BaseException) -> BaseException:
    """The most telling failure inside the SDK's task-group wrapping."""
    leaves = list(_leaves(exc))
    for kind in (_Refused, TimeoutError, httpx2.TransportError, MCPError):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0] if leaves else exc


_REFUSED: ContextVar[list[int] | None] = ContextVar("mcp_worker_refused", default=None)


async def _watch(response: httpx2.Response) -> None:
    """Note a 401/403 for the session being run (the SDK reports it as a bare MCP error)."""
    seen = _REFUSED.get()
    if seen is not None and response.status_code in (401, 403):
        seen.append(response.status_code)


class McpWorker:
    """A remote MCP server reached over Streamable HTTP.

    Args:
        spec: The worker (``type: mcp``): uri, toolkit, headers, secret headers, timeout, retry.
        retry: Extra attempts (the spec's when None); a probe passes 0.
        pooled: Keep one HTTP client (connection pool) for the worker's life; a probe does not.
        backoff_s: First pause between attempts; doubles each time.
    """

    def __init__(
        self, spec: WorkerSpec, *, retry: int | None = None, pooled: bool = True, backoff_s: float = 0.2
    ) -> None:
        self._spec = spec
        self._headers = {**spec.headers, **spec.secret_headers}
        self._retry = max(0, spec.retry if retry is None else retry)
        self._pooled = pooled
        self._backoff_s = backoff_s
        self._client: httpx2.AsyncClient | None = None

    def _new_client(self) -> httpx2.AsyncClient:
        client = create_mcp_http_client(headers=self._headers, timeout=httpx2.Timeout(self._spec.timeout))
        client.event_hooks["response"].append(_watch)
        return client

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx2.AsyncClient]:
        """The worker's pooled HTTP client (a client costs ~36 ms to build: its TLS context), or a
        client of its own for a one-off probe."""
        if not self._pooled:
            async with self._new_client() as client:
                yield client
            return
        if self._client is None:
            self._client = self._new_client()
        yield self._client

    def retire(self) -> None:
        """Close the pooled connections once any call still running on them is over."""
        client, self._client = self._client, None
        if client is not None:
            loop = asyncio.get_running_loop()
            later = self._spec.timeout * (1 + self._retry) + 1
            loop.call_later(later, lambda: loop.create_task(client.aclose()))

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[ClientSession]:
        refused: list[int] = []
        _REFUSED.set(refused)  # the transport's tasks, started below, inherit it
        try:
            async with (
                self._http() as http,
                streamable_http_client(self._spec.uri, http_client=http) as (read, write),
                ClientSession(read, write, read_timeout_seconds=self._spec.timeout) as session,
            ):
                await session.initialize()
                yield session
        except BaseException as exc:
            if refused:
                raise _Refused(f"HTTP {refused[0]}") from exc
            raise

    async def _attempts(self, operation: Callable[[ClientSession], Awaitable[T]], *, idempotent: bool) -> T:
        attempt = 0
        while True:
            sent = False  # whether the operation's request may have left (initialize is over)
            try:  # the worker's timeout bounds a whole attempt: initialize and the operation
                async with asyncio.timeout(self._spec.timeout), self._session() as session:
                    sent = True
                    return await operation(session)
            except Exception as exc:
                refused = isinstance(_cause(exc), _Refused)
                if refused or attempt >= self._retry or (sent and not idempotent):
                    raise
            await asyncio.sleep(self._backoff_s * 2**attempt)
            attempt += 1

    def _unusable(self, exc: BaseException) -> ValetkeyError:
        cause = _cause(exc)
        where = f"MCP worker {self._spec.id} at {self._spec.uri}"
        if isinstance(cause, _Refused):
            return ConfigError(
                f"{where} refused the engine's headers ({cause}): check the worker's headers and secrets",
                key="tools.directors[].workers[].mcp.secrets",
            )
        if isinstance(cause, TimeoutError | httpx2.TimeoutException):
            return ServiceUnavailable(f"{where} did not answer within {self._spec.timeout:g} s")
        if isinstance(cause, httpx2.TransportError):
            return ServiceUnavailable(f"{where} unreachable: {type(cause).__name__}")
        if isinstance(cause, MCPError):
            return ServiceUnavailable(f"{where} answered an MCP error: {cause.error.message}")
        return ServiceUnavailable(f"{where} failed: {type(cause).__name__}")

    async def _list(self, session: ClientSession) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await session.list_tools(params={"cursor": cursor} if cursor else None)  # type: ignore[arg-type]
            tools += [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def definitions(self) -> list[dict[str, Any]]:
        """The server's ``tools/list`` as worker-format definitions under the worker's toolkit.

        Raises:
            ServiceUnavailable: Unreachable, timed out or an MCP error, after the retries.
            ConfigError: The server answered 401/403 (our headers or secrets are wrong).
        """
        try:
            listed = await self._attempts(self._list, idempotent=True)
        except Exception as exc:
            raise self._unusable(exc) from exc
        description = f"Tools of the MCP server {self._spec.id}"
        definitions = []
        for tool in listed:
            name = str(tool.get("name"))
            if not valid_tool_name(name):
                log.warning("mcp_worker.tool_name_unusable", worker=self._spec.id, tool=name)
                continue
            try:
                definitions.append(from_mcp_tool(tool, self._spec.toolkit, description))
            except ValueError as exc:  # pydantic's ValidationError is one: a schema arcade-core refuses
                log.warning("mcp_worker.tool_unusable", worker=self._spec.id, tool=name, error=str(exc)[:200])
        return definitions

    async def health(self) -> dict[str, Any]:
        """``{"status": "ok", "server": name}`` after ``initialize`` (errors as :meth:`definitions`)."""

        async def server_name(session: ClientSession) -> str:
            info = session.initialize_result
            return info.server_info.name if info is not None else ""

        try:
            name = await self._attempts(server_name, idempotent=True)
        except Exception as exc:
            raise self._unusable(exc) from exc
        return {"status": "ok", "server": name}

    async def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one ``ToolCallRequest`` as ``tools/call``; failures become failed responses."""
        execution_id, start = str(request.get("execution_id") or ""), time.monotonic()
        name = str((request.get("tool") or {}).get("name") or "")

        async def call(session: ClientSession) -> Any:
            return await session.call_tool(name, request.get("inputs") or {})

        try:
            result = await self._attempts(call, idempotent=False)
        except Exception as exc:
            kind, message = _failure(self._unusable(exc), _cause(exc))
            return failed_response(execution_id, start, kind, message)
        return tool_response(execution_id, start, _output(result))


def _failure(error: ValetkeyError, cause: BaseException) -> tuple[ErrorKind, str]:
    if isinstance(error, ConfigError):
        return ErrorKind.TOOLKIT_LOAD_FAILED, error.message
    if isinstance(cause, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout):
        return ErrorKind.NETWORK_TRANSPORT_RUNTIME_UNREACHABLE, "MCP worker unreachable"
    if isinstance(cause, httpx2.TimeoutException | TimeoutError) or (
        isinstance(cause, MCPError) and "timed out" in cause.error.message.lower()
    ):
        return ErrorKind.NETWORK_TRANSPORT_RUNTIME_TIMEOUT, "MCP worker did not answer in time"
    return ErrorKind.NETWORK_TRANSPORT_RUNTIME_UNMAPPED, error.message


def _output(result: Any) -> Any:
    """A ``CallToolResult`` as a tool output: its structured content (FastMCP's ``{"result": x}``
    unwrapped), else its text; ``isError`` makes it a tool failure with that text."""
    texts = [c.text for c in getattr(result, "content", None) or [] if getattr(c, "type", "") == "text"]
    if getattr(result, "is_error", False):
        message = "\n".join(texts) or "the MCP tool reported an error"
        return output_factory.fail(message=message, kind=ErrorKind.TOOL_RUNTIME_FATAL)
    structured = getattr(result, "structured_content", None)
    if isinstance(structured, dict):
        value: Any = structured["result"] if set(structured) == {"result"} else structured
    elif len(texts) == 1:
        value = texts[0]
    else:
        value = texts or None
    if value is not None and not isinstance(value, str | int | float | bool | dict | list):
        value = json.loads(json.dumps(value, default=str))
    return output_factory.success(data=value)

"""Where tools run: toolkits loaded in this process, or a remote Arcade worker.

Both sources speak the worker protocol's JSON (reference §9.4, §9.5): they list
arcade-core ``ToolDefinition`` dicts and turn a ``ToolCallRequest`` dict into a
``ToolCallResponse`` dict. A tool's own failure is an answer
(``success: false``), never an exception.

In process we reuse arcade-core as an arcade-serve worker does: ``Toolkit``
finds the tools, ``ToolCatalog`` builds the definitions and input models,
``ToolExecutor.run`` validates inputs, injects the ``ToolContext``, runs sync
tools in a thread and maps exceptions to Arcade errors.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from pathlib import Path
from typing import Any, Protocol

from arcade_core.catalog import ToolCatalog
from arcade_core.discovery import load_package
from arcade_core.errors import ErrorKind, ToolkitLoadError
from arcade_core.executor import ToolExecutor
from arcade_core.output import output_factory
from arcade_core.schema import ToolCallOutput, ToolCallRequest, ToolDefinition
from arcade_core.toolkit import Toolkit, get_package_directory
from arcade_core.utils import normalize_toolkit_name
from pydantic import TypeAdapter, ValidationError

from services.executor.responses import failed_response, tool_response
from services.executor.workers import RemoteWorker
from shared.errors import BadRequest, ConfigError, NotFound

_DEFINITIONS = TypeAdapter(list[ToolDefinition])


class ToolSource(Protocol):
    """A place that lists tools and runs them, in the worker protocol's JSON."""

    async def definitions(self) -> list[dict[str, Any]]:
        """Return the tool definitions, exactly as ``GET /worker/tools`` would."""
        ...

    async def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one ``ToolCallRequest`` and return its ``ToolCallResponse``."""
        ...


def load_toolkit(name: str) -> Toolkit:
    """Load a toolkit from an installed distribution or an importable package.

    ``arcade_github``, ``arcade-github`` and ``github`` all name the installed
    distribution (arcade-core's own ``load_package`` rules). Anything else is
    imported as a package (``tests.support.toolkits.hooli``): the toolkit is
    named after its last component, versioned by its ``__version__`` (default
    ``0.1.0``) and described by its docstring.

    Args:
        name: A distribution name or a dotted package name.

    Returns:
        The arcade-core ``Toolkit`` (tools found by arcade-core's AST scan).

    Raises:
        ConfigError: Neither an installed toolkit nor an importable package with tools.
    """
    try:
        return load_package(name)
    except ToolkitLoadError:
        pass  # not a distribution: try it as a local package below
    try:
        module = importlib.import_module(name)
        package_dir = get_package_directory(name)
        toolkit = Toolkit(
            name=normalize_toolkit_name(name.rsplit(".", 1)[-1]),
            package_name=name,
            version=str(getattr(module, "__version__", "0.1.0")),
            description=(module.__doc__ or "").strip(),
        )
        toolkit.tools, toolkit.resources = Toolkit.scan_directory(Path(package_dir), name)
    except (ImportError, ToolkitLoadError) as exc:
        raise ConfigError(f"cannot load toolkit {name!r}: {exc}", key="tools") from exc
    return toolkit


class InProcessToolkits:
    """Toolkits loaded into this process and run with arcade-serve's semantics.

    Args:
        names: Toolkits to load (see :func:`load_toolkit`); loaded now, so this
            blocks for the toolkits' import time (seconds for big ones).
        timeout_s: Per-call limit; a late call answers ``NETWORK_TRANSPORT_RUNTIME_TIMEOUT``.
    """

    def __init__(self, names: list[str], *, timeout_s: float = 30.0) -> None:
        self._catalog = ToolCatalog()
        self._timeout_s = timeout_s
        for name in names:
            try:
                self._catalog.add_toolkit(load_toolkit(name))
            except ToolkitLoadError as exc:  # a tool that fails to define itself
                raise ConfigError(f"cannot load toolkit {name!r}: {exc}", key="tools") from exc
        # The catalog never changes after loading, so its JSON is computed once.
        self._definitions: list[dict[str, Any]] = _DEFINITIONS.dump_python(
            [tool.definition for tool in self._catalog], mode="json", by_alias=True
        )

    async def definitions(self) -> list[dict[str, Any]]:
        """Return the definitions as an arcade-serve worker's ``GET /worker/tools``."""
        return [dict(d) for d in self._definitions]

    async def health(self) -> dict[str, Any]:
        """Return what ``GET /worker/health`` would."""
        return {"status": "ok", "tool_count": str(len(self._catalog))}

    async def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a tool as ``POST /worker/tools/invoke`` would.

        Args:
            request: A ``ToolCallRequest`` dict.

        Returns:
            A ``ToolCallResponse`` dict; tool failures and timeouts have ``success: false``.

        Raises:
            BadRequest: The request is not a valid ``ToolCallRequest``.
            NotFound: No such tool/version (the caller resolves names first).
        """
        try:
            call = ToolCallRequest.model_validate(request)
        except ValidationError as exc:
            raise BadRequest(f"invalid tool call request: {exc.error_count()} error(s)") from exc
        fqn = call.tool.get_fully_qualified_name()
        try:
            tool = self._catalog.get_tool(fqn)
        except ValueError as exc:
            raise NotFound(f"tool {fqn}@{fqn.toolkit_version or 'any'} not found") from exc
        start = time.monotonic()
        output = await self._run(tool, call, str(fqn))
        return tool_response(call.execution_id or "", start, output)

    async def _run(self, tool: Any, call: ToolCallRequest, label: str) -> ToolCallOutput:
        run = ToolExecutor.run(
            func=tool.tool,
            definition=tool.definition,
            input_model=tool.input_model,
            output_model=tool.output_model,
            context=call.context,
            **(call.inputs or {}),
        )
        try:  # asyncio.timeout, not wait_for: on Python 3.11 wait_for runs the call as a task of its own
            async with asyncio.timeout(self._timeout_s):
                return await run
        except TimeoutError:
            # A sync tool's thread cannot be killed and keeps running; an async
            # tool is cancelled. Either way it may have had side effects, so the
            # agent is not told to retry.
            return output_factory.fail(
                message=f"Tool {label} timed out after {self._timeout_s:g}s",
                developer_message="in-process tool exceeded the executor's timeout; it may have run",
                kind=ErrorKind.NETWORK_TRANSPORT_RUNTIME_TIMEOUT,
                can_retry=False,
            )


__all__ = ["InProcessToolkits", "RemoteWorker", "ToolSource", "failed_response", "load_toolkit"]

"""Pure MCP gateway rules: which tools a gateway exposes, under which MCP names, and what a call answers.

No I/O: the catalog and the executor's results come in as the JSON the executor sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from shared.contracts.common import DEFAULT_PROJECT

# Where the endpoint leaves the request's ``Caller`` in the ASGI scope for the MCP handlers.
CALLER_KEY = "valetkey.mcp.caller"


@dataclass(frozen=True)
class Gateway:
    """A gateway as the endpoint serves it (from engine.yaml or the admin API)."""

    slug: str
    tools: tuple[str, ...]
    description: str = ""
    instructions: str = ""
    auth: str = "headers"
    source: str = "engine"
    # Whose keys may call it, and whose users, tokens and tools its calls use.
    project: str = DEFAULT_PROJECT


@dataclass(frozen=True)
class Caller:
    """Who calls, on which gateway: set by the endpoint once the request is authenticated."""

    gateway: Gateway
    user_id: str


def request_state_key(bus_key: str) -> bytes:
    """The key that seals ``requestState`` tokens, the same on every gateway replica."""
    return hmac.new(bus_key.encode(), b"valetkey mcp request state", hashlib.sha256).digest()


@dataclass(frozen=True)
class ExposedTool:
    """One catalog tool as a gateway shows it: its MCP name and the name the executor runs."""

    mcp_name: str
    qualified_name: str
    description: str
    input_schema: Mapping[str, Any]
    title: str = ""


@dataclass(frozen=True)
class Selection:
    """The tools one gateway exposes, by MCP name, in catalog order."""

    tools: tuple[ExposedTool, ...] = ()
    by_name: Mapping[str, ExposedTool] = field(default_factory=dict)


def mcp_name(toolkit: str, tool: str) -> str:
    """``Toolkit_Tool``: the name arcade-mcp-server gives a tool (its qualified name, ``.`` as ``_``)."""
    return f"{toolkit}_{tool}"


def matches(patterns: Iterable[str], toolkit: str, tool: str) -> bool:
    """Whether ``Toolkit.Tool`` is matched by one of ``patterns``, case-insensitively.

    A pattern is ``Toolkit.Tool``, ``Toolkit.*``, a bare ``Toolkit`` (all its tools) or ``*``;
    either part may hold ``fnmatch`` wildcards (``Git*.List*``).
    """
    kit, name = toolkit.lower(), tool.lower()
    for pattern in patterns:
        kit_pattern, _, tool_pattern = pattern.lower().partition(".")
        if fnmatchcase(kit, kit_pattern) and fnmatchcase(name, tool_pattern or "*"):
            return True
    return False


def select(gateway: Gateway, views: Iterable[Mapping[str, Any]]) -> Selection:
    """The catalog's tools (engine views with ``formatted_schema.anthropic``) that ``gateway`` exposes."""
    chosen: list[ExposedTool] = []
    for view in views:
        toolkit, name = view["toolkit"]["name"], view["name"]
        if not matches(gateway.tools, toolkit, name):
            continue
        schema = (view.get("formatted_schema") or {}).get("anthropic", {}).get("input_schema")
        chosen.append(
            ExposedTool(
                mcp_name=mcp_name(toolkit, name),
                qualified_name=view["qualified_name"],
                description=view.get("description") or "",
                input_schema=schema or {"type": "object", "properties": {}},
                title=name,
            )
        )
    return Selection(tuple(chosen), {t.mcp_name.lower(): t for t in chosen})


@dataclass(frozen=True)
class CallOutcome:
    """What ``tools/call`` answers: text content, structured content, and whether it is an error."""

    texts: tuple[str, ...]
    structured: dict[str, Any] | None = None
    is_error: bool = False


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def call_outcome(result: Mapping[str, Any]) -> CallOutcome:
    """An ``ExecutionResult`` (as the executor sent it) as a ``tools/call`` result.

    A tool that needs the user's consent answers as arcade-mcp-server does: ``isError`` true,
    a message with the authorization URL, then its machine-readable fields as JSON. Never a token.
    """
    outcome, tool = result["outcome"], result["tool_name"]
    if outcome == "completed":
        value = result.get("value")
        structured = value if isinstance(value, dict) else None
        return CallOutcome(() if value is None else (_text(value),), structured)
    if outcome == "authorization_required":
        url = (result.get("authorization") or {}).get("url") or ""
        message = (
            "Authorization required\n\n"
            f"  Tool '{tool}' needs your permission to access your account.\n\n"
            "  To authorize:\n"
            f"  1. Click this link: {url}\n"
            "  2. Grant the requested permissions\n"
            "  3. Return here and try again\n"
        )
        extra = {
            "authorization_url": url,
            "llm_instructions": (
                f"Please show the following link to the end user formatted as markdown: {url} \n"
                "Inform the end user that the tool requires their authorization to be completed "
                "before the tool can be executed."
            ),
        }
        return CallOutcome((message, _text(extra)), is_error=True)
    if outcome == "secret_missing":
        return CallOutcome((f"secret not found: {result.get('missing_secret')}",), is_error=True)
    error = result.get("error") or {}
    message = error.get("message") or "the tool failed"
    texts = [message]
    if error.get("additional_prompt_content"):
        texts.append(str(error["additional_prompt_content"]))
    return CallOutcome(tuple(texts), is_error=True)

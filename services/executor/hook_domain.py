"""Contextual Access, the pure part (docs/contextual-access.md): which hooks run, in which order,
what a plugin is asked, and what its answer means.

A *plugin* is an HTTP server with up to three endpoints (``access``, ``pre``, ``post``); a *hook*
attaches one plugin's endpoint to one hook point with a phase, a priority, a status and a failure
mode. No I/O here: the caller (services/executor/hooks.py) sends what these functions build and
hands the answers back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from services.executor.definitions import parameters_schema
from shared.contracts.hook_bodies import HookPoint

HOOK_POINTS: tuple[HookPoint, ...] = ("tool.access", "tool.pre", "tool.post")
#: The plugin endpoint each hook point calls (``webhook_config.endpoints.<name>``).
ENDPOINT_OF: dict[str, str] = {"tool.access": "access", "tool.pre": "pre", "tool.post": "post"}
PHASES = ("before", "after")
DEFAULT_TIMEOUT_MS = 5000
#: However long a plugin or hook asks for, one call waits at most this long: an execution's
#: answer must not hang on a slow policy server (docs/contextual-access.md, "Time budget").
MAX_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Link:
    """One hook ready to call: where, how long, with which headers, and what a failure means."""

    hook_id: str
    name: str
    point: str
    phase: str
    priority: int
    fail_open: bool
    url: str
    timeout_s: float
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chains:
    """A project's hooks per point, in call order. Empty chains cost one attribute read."""

    access: tuple[Link, ...] = ()
    pre: tuple[Link, ...] = ()
    post: tuple[Link, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.access or self.pre or self.post)


NO_HOOKS = Chains()


@dataclass(frozen=True)
class Verdict:
    """A plugin's answer: allowed or not (with the reason it gave), and what it rewrote."""

    allowed: bool
    reason: str = ""
    rewrite: Mapping[str, Any] | None = None


class Unusable(ValueError):
    """A plugin's answer that is not one of the contract's shapes (a failure of that hook)."""


def order_key(link: Link) -> tuple[int, int, str]:
    """``before`` hooks first, then by priority (lower first), then by id, so equal priorities
    run in a stable order on every replica."""
    return (PHASES.index(link.phase), link.priority, link.hook_id)


def chains_of(
    plugins: Mapping[str, Mapping[str, Any]],
    hooks: Iterable[Mapping[str, Any]],
    headers_of: Mapping[str, Mapping[str, str]],
) -> Chains:
    """The active hooks of active plugins that serve their point, sorted for calling.

    Args:
        plugins: Plugin records by id.
        hooks: Hook records.
        headers_of: The auth headers of each plugin (by id), its token already opened.
    """
    links: dict[str, list[Link]] = {p: [] for p in HOOK_POINTS}
    for hook in hooks:
        plugin = plugins.get(hook["plugin_id"])
        if hook.get("status") != "active" or plugin is None or plugin.get("status") != "active":
            continue
        endpoints = (plugin.get("webhook_config") or {}).get("endpoints") or {}
        endpoint = endpoints.get(ENDPOINT_OF[hook["hook_point"]])
        if not endpoint or not endpoint.get("url"):
            continue
        links[hook["hook_point"]].append(_link(hook, endpoint, headers_of.get(plugin["id"], {})))
    ordered = {point: tuple(sorted(found, key=order_key)) for point, found in links.items()}
    return Chains(ordered["tool.access"], ordered["tool.pre"], ordered["tool.post"])


def _link(hook: Mapping[str, Any], endpoint: Mapping[str, Any], headers: Mapping[str, str]) -> Link:
    timeout_ms = hook.get("timeout_ms") or endpoint.get("timeout_ms") or DEFAULT_TIMEOUT_MS
    return Link(
        hook_id=hook["id"],
        name=hook.get("name") or hook["id"],
        point=hook["hook_point"],
        phase=hook.get("phase") or "before",
        priority=int(hook.get("priority") or 0),
        fail_open=hook.get("failure_mode") == "fail_open",
        url=endpoint["url"],
        timeout_s=min(int(timeout_ms), MAX_TIMEOUT_MS) / 1000,
        headers=dict(headers),
    )


def tool_info(definition: Mapping[str, Any]) -> dict[str, str]:
    toolkit = definition["toolkit"]
    return {"name": definition["name"], "toolkit": toolkit["name"], "version": toolkit.get("version") or ""}


def _context(user_id: str | None, secret_keys: list[str]) -> dict[str, Any]:
    context: dict[str, Any] = {"secrets": secret_keys}
    if user_id:
        context["user_id"] = user_id
    return context


def access_request(definition: Mapping[str, Any], user_id: str | None) -> dict[str, Any]:
    """Arcade's access-hook request, for the one tool being run: ``{user_id, toolkits}``."""
    info = tool_info(definition)
    tools = {info["name"]: [{"version": info["version"]}]}
    return {"user_id": user_id or "", "toolkits": {info["toolkit"]: {"tools": tools}}}


def pre_request(
    definition: Mapping[str, Any],
    *,
    execution_id: str,
    inputs: Mapping[str, Any],
    user_id: str | None,
    secret_keys: list[str],
) -> dict[str, Any]:
    """Arcade's pre-hook request: the tool, its inputs, who runs it and which secrets (names only)."""
    return {
        "execution_id": execution_id,
        "tool": tool_info(definition),
        "inputs": dict(inputs),
        "context": _context(user_id, secret_keys),
        "servers": {},
    }


def post_request(
    definition: Mapping[str, Any],
    *,
    execution_id: str,
    inputs: Mapping[str, Any],
    response: Mapping[str, Any],
    user_id: str | None,
    secret_keys: list[str],
) -> dict[str, Any]:
    """Arcade's post-hook request: the pre-hook's fields plus the tool's answer."""
    output = response.get("output") or {}
    body: dict[str, Any] = {
        "execution_id": execution_id,
        "tool": tool_info(definition),
        "inputs": dict(inputs),
        "success": bool(response.get("success")),
        "output": {"value": output.get("value")} if response.get("success") else {},
        "context": _context(user_id, secret_keys),
        "server": {"name": "", "type": "arcade", "uri": ""},
    }
    error = output.get("error") or {}
    if error:
        body["execution_error"] = str(error.get("message") or "")
        body["execution_code"] = str(error.get("kind") or "")
    return body


def access_verdict(answer: Any, definition: Mapping[str, Any]) -> Verdict:
    """``{allow?, deny?}`` for this tool: an ``allow`` list, when given, is the only one read.

    Raises:
        Unusable: Not an object, or lists that are not objects.
    """
    if not isinstance(answer, dict):
        raise Unusable("the access answer is not a JSON object")
    info = tool_info(definition)
    allow, deny = answer.get("allow"), answer.get("deny")
    for listed in (allow, deny):
        if listed is not None and not isinstance(listed, dict):
            raise Unusable("allow and deny must be objects of toolkits")
    reason = str(answer.get("error_message") or answer.get("reason") or "")
    if allow is not None:
        return Verdict(allowed=_lists(allow, info), reason=reason)
    return Verdict(allowed=not (deny is not None and _lists(deny, info)), reason=reason)


def _lists(toolkits: Mapping[str, Any], info: Mapping[str, str]) -> bool:
    """Whether an access list names the tool: its toolkit (all its tools when ``tools`` is absent),
    the tool, and its version when versions are listed."""
    toolkit = next((v for k, v in toolkits.items() if k.lower() == info["toolkit"].lower()), None)
    if toolkit is None:
        return False
    tools = (toolkit or {}).get("tools")
    if tools is None:
        return True
    versions = next((v for k, v in tools.items() if k.lower() == info["name"].lower()), None)
    if versions is None:
        return False
    named = {str(v.get("version")) for v in versions or [] if isinstance(v, dict) and v.get("version")}
    return not named or info["version"] in named


def result_verdict(answer: Any, rewrites: str) -> Verdict:
    """A pre or post answer: ``{code, error_message?, override?}``; ``OK`` lets the call go on with
    ``override.<rewrites>`` (``inputs`` or ``output``) when present.

    Raises:
        Unusable: Not an object, an unknown code, or an override of the wrong type.
    """
    if not isinstance(answer, dict):
        raise Unusable("the answer is not a JSON object")
    code = answer.get("code")
    if code not in ("OK", "CHECK_FAILED", "RATE_LIMIT_EXCEEDED"):
        raise Unusable(f"code must be OK, CHECK_FAILED or RATE_LIMIT_EXCEEDED, not {code!r}")
    reason = str(answer.get("error_message") or code)
    if code != "OK":
        return Verdict(allowed=False, reason=reason)
    override = answer.get("override")
    override = {} if override is None else override
    if not isinstance(override, dict):
        raise Unusable("override must be an object")
    rewrite = override.get(rewrites)
    if rewrite is not None and not isinstance(rewrite, dict):
        raise Unusable(f"override.{rewrites} must be an object")
    return Verdict(allowed=True, rewrite=rewrite)


def merged_inputs(inputs: Mapping[str, Any], rewrite: Mapping[str, Any] | None) -> dict[str, Any]:
    """The inputs after a pre hook: each key it names replaced (or added), the others kept."""
    return {**inputs, **(rewrite or {})}


def check_inputs(definition: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """A rewrite must leave inputs the tool accepts.

    Raises:
        Unusable: A required input missing, an unknown one, or a value of the wrong type.
    """
    schema = {**parameters_schema(definition), "additionalProperties": False}
    try:
        jsonschema.validate(dict(inputs), schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "inputs"
        raise Unusable(f"the rewritten inputs do not fit the tool: {where}: {exc.message}") from exc


def rewritten_output(response: Mapping[str, Any], rewrite: Mapping[str, Any] | None) -> dict[str, Any]:
    """The tool's answer after a post hook: ``override.output.value`` replaces the value; a tool
    that failed keeps its error."""
    if not rewrite or "value" not in rewrite or not response.get("success"):
        return dict(response)
    output = dict(response.get("output") or {})
    output["value"] = rewrite["value"]
    return {**response, "output": output}

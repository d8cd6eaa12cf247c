"""Pure decisions of the executor: what a tool requires, and the typed result of an execution.

No I/O here: ids, times and the tool's raw answer come in as arguments. Arcade's JSON
shapes are not written here either; the gateway writes them from :class:`ExecutionResult`
(``services/gateway/wire.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from arcade_core.errors import ErrorKind

from services.executor.definitions import public_output
from shared.contracts.authorization import Authorization, AuthRequirement
from shared.contracts.execution import ExecutionResult


@dataclass(frozen=True)
class Grant:
    """The token a tool runs with; ``provider_key`` is set when it can be refreshed on a 401."""

    token: str
    user_info: dict[str, Any] = field(default_factory=dict)
    provider_key: str | None = None


@dataclass(frozen=True)
class Run:
    """One execution's identity and clock: what every result carries whatever happened."""

    id: str
    execution_id: str
    tool_name: str
    duration_ms: int | float
    finished_at: datetime

    def result(self, **fields: Any) -> ExecutionResult:
        finished = self.finished_at.isoformat().replace("+00:00", "Z")
        base = {"id": self.id, "execution_id": self.execution_id, "tool_name": self.tool_name}
        return ExecutionResult(**base, duration=self.duration_ms, finished_at=finished, **fields)


@dataclass(frozen=True)
class Ran:
    """What :meth:`Executor.run` did: the result, the definition it ran, where (``in_process``/``worker``)."""

    result: ExecutionResult
    definition: Mapping[str, Any]
    source: str


def qualified_name(definition: Mapping[str, Any]) -> str:
    """``Toolkit.Tool``."""
    return f"{definition['toolkit']['name']}.{definition['name']}"


def authorization_of(definition: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The definition's ``requirements.authorization``, if it needs one."""
    auth = (definition.get("requirements") or {}).get("authorization")
    return auth or None


def secret_keys_of(definition: Mapping[str, Any]) -> list[str]:
    """The secret keys a tool needs."""
    return [s["key"] for s in (definition.get("requirements") or {}).get("secrets") or []]


def scopes_of(auth: Mapping[str, Any]) -> list[str]:
    """The scopes a tool asks for."""
    return list((auth.get("oauth2") or {}).get("scopes") or [])


def requirement_of(auth: Mapping[str, Any]) -> AuthRequirement:
    """The ``AuthRequirement`` the authorizer starts a flow for, from a definition's ``authorization``."""
    return AuthRequirement(
        id=auth.get("id"),
        provider_id=auth.get("provider_id"),
        provider_type=auth.get("provider_type") or "oauth2",
        scopes=scopes_of(auth),
    )


def tool_call(
    definition: Mapping[str, Any],
    *,
    execution_id: str,
    inputs: Mapping[str, Any],
    grant: Grant | None,
    secrets: list[dict[str, str]],
    user_id: str | None,
) -> dict[str, Any]:
    """The ``ToolCallRequest`` a source runs (arcade-serve's shape)."""
    toolkit = definition["toolkit"]
    return {
        "execution_id": execution_id,
        "tool": {"name": definition["name"], "toolkit": toolkit["name"], "version": toolkit.get("version")},
        "inputs": dict(inputs),
        "context": {
            "authorization": None if grant is None else {"token": grant.token, "user_info": grant.user_info},
            "secrets": secrets,
            "user_id": user_id,
        },
    }


def upstream_refused(response: Mapping[str, Any]) -> bool:
    """True when the tool reported that the upstream refused its token (a 401 worth one refresh)."""
    error = (response.get("output") or {}).get("error") or {}
    return bool(error.get("kind") == ErrorKind.UPSTREAM_RUNTIME_AUTH_ERROR.value)


def ran(run: Run, response: Mapping[str, Any], *, include_stacktrace: bool) -> ExecutionResult:
    """The result of a tool that ran: its value or error, its logs, its own duration when it gave one."""
    success = bool(response.get("success"))
    output = public_output(response.get("output") or {}, include_stacktrace=include_stacktrace) or {}
    duration = response.get("duration")
    shown = replace(
        run,
        execution_id=str(response.get("execution_id") or ""),
        duration_ms=duration if isinstance(duration, int | float) else run.duration_ms,
    )
    return shown.result(
        outcome="completed" if success else "failed",
        value=output.get("value") if success else None,
        error=None if success else output.get("error"),
        logs=output.get("logs") or [],
    )


def authorization_required(run: Run, authorization: Authorization) -> ExecutionResult:
    """The tool did not run: the user must grant access first."""
    return run.result(outcome="authorization_required", authorization=authorization)


def secret_missing(run: Run, key: str) -> ExecutionResult:
    """The tool did not run: a secret it needs has no value."""
    return run.result(outcome="secret_missing", missing_secret=key)

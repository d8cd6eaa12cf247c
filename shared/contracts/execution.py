"""Tools: gateway <-> executor."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.contracts.authorization import Authorization
from shared.contracts.common import Contract, InProject, PageQuery


class ListTools(PageQuery):
    toolkit: str | None = None
    user_id: str | None = None
    include_format: list[str] = Field(default_factory=list)
    include_all_versions: bool = False
    format: str | None = None
    filter: str | None = None  # Arcade's JSON metadata filter, as the client sent it
    # The console's own: each item also names its source (``in_process`` or a worker id), a field
    # Arcade's tool definition does not have, so the API never asks for it.
    with_source: bool = False


class GetTool(InProject):
    name: str = Field(min_length=1)
    user_id: str | None = None
    include_format: list[str] = Field(default_factory=list)
    format: str | None = None


class AuthorizeTool(InProject):
    tool_name: str = Field(min_length=1)
    tool_version: str | None = None
    user_id: str = Field(min_length=1)
    next_uri: str | None = None


class ToolRef(Contract):
    tool_name: str = Field(min_length=1)
    tool_version: str | None = None


class CheckRequirements(InProject):
    """``POST /v1/tools/requirements``: what these tools still need for this user.

    ``authorize`` starts a flow for each unmet authorization (its ``url`` in the answer).
    """

    user_id: str = Field(min_length=1)
    tool_names: list[str] = Field(default_factory=list, max_length=100)
    tools: list[ToolRef] = Field(default_factory=list, max_length=100)
    authorize: bool = False


class ExecuteTool(InProject):
    tool_name: str = Field(min_length=1)
    tool_version: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = None
    include_error_stacktrace: bool = False
    run_at: str | None = None
    webhook: bool = False


ExecutionOutcome = Literal["completed", "failed", "authorization_required", "secret_missing"]


class ExecutionResult(Contract):
    """What happened to one ``ExecuteTool``; the gateway writes Arcade's execute JSON from it.

    ``outcome`` is ``completed``/``failed`` when the tool ran (its ``value`` or ``error``
    and ``logs``), ``authorization_required`` when the user must grant access first
    (``authorization`` says where), ``secret_missing`` when a secret it needs has no value
    (``missing_secret`` names it); the tool did not run in the last two.
    """

    outcome: ExecutionOutcome
    id: str
    execution_id: str
    tool_name: str
    duration: int | float
    finished_at: str
    value: Any = None
    error: dict[str, Any] | None = None
    logs: list[Any] = Field(default_factory=list)
    authorization: Authorization | None = None
    missing_secret: str | None = None


ExecutionType = Literal["immediate", "scheduled"]
#: ``pending`` until a scheduled run starts, ``running`` while it runs, then ``success`` or ``failed``.
ExecutionStatus = Literal["pending", "running", "success", "failed"]


class Attempt(Contract):
    """One run of an execution: what it answered (``result``), or why the engine could not run it."""

    id: str
    started_at: str
    finished_at: str
    success: bool
    system_error_message: str | None = None
    result: ExecutionResult | None = None


class ExecutionRecord(Contract):
    """One execution in the history (docs/scheduled-executions.md): immediate or scheduled.

    ``input`` and the attempts' values and errors are kept only as ``execution_logging`` says
    (a scheduled run's are always kept: its result is read here), redacted.
    """

    id: str
    execution_id: str
    project: str
    execution_type: ExecutionType
    status: ExecutionStatus
    tool_name: str
    toolkit_name: str
    toolkit_version: str | None = None
    user_id: str | None = None
    source: str = ""
    created_at: str
    updated_at: str
    run_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: float | None = None
    error_kind: str | None = None
    input: dict[str, Any] | None = None
    outputs_kept: bool = True  # False: the attempts' results hold no value, error or logs
    attempts: list[Attempt] = Field(default_factory=list)


class ExecutionQuery(PageQuery):
    """A page of the history, newest first; each filter narrows it."""

    user_id: str | None = None
    tool_name: str | None = None
    execution_type: ExecutionType | None = None
    status: ExecutionStatus | None = None


class ExecutionRef(InProject):
    id: str = Field(min_length=1, max_length=128)


class WorkerRef(InProject):
    id: str = Field(min_length=1)


class WorkerWrite(InProject):
    id: str | None = None
    body: dict[str, Any]


class SecretWrite(InProject):
    key: str = Field(min_length=1, max_length=256)
    value: str = Field(max_length=5000)
    description: str | None = None


class SecretRef(InProject):
    id: str = Field(min_length=1)


class Document(Contract):
    """A JSON object answered as is (a tool definition, a worker, a secret's metadata)."""

    body: dict[str, Any]


class WorkerToolsQuery(PageQuery):
    id: str = Field(min_length=1)
    user_id: str | None = None

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

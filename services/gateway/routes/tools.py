"""Tool routes: list, get, formatted, authorize, execute, answered by the executor.

See docs/arcade-compatibility.md §3.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from services.gateway.arcade_schemas import conform
from services.gateway.domain import clamp_page, offset_page
from services.gateway.errors import error_response, validation_message
from services.gateway.routes.body import documented, json_body
from services.gateway.routes.deps import (
    Extras,
    Project,
    extras_asked,
    limit_user,
    require_api_key,
    rpc,
    rpc_of,
)
from services.gateway.wire import JsonAnswer, authorization_body, execution_response, scheduled_response
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.common import Page
from shared.contracts.execution import (
    AuthorizeTool,
    Document,
    ExecuteTool,
    GetTool,
    ListTools,
)
from shared.errors import BadRequest, ValetkeyError
from shared.runtime.settings import Settings

router = APIRouter(tags=["tools"], dependencies=[Depends(require_api_key)])

Rpc = Annotated[RpcClient, Depends(rpc)]
# Arrays arrive comma-joined from the SDKs, or repeated from other callers
# (docs/arcade-compatibility.md §1.2).
Formats = Annotated[list[str] | None, Query()]
# Arcade's JSON metadata filter (docs/arcade-compatibility.md §3.3); the executor parses it.
Filter = Annotated[str | None, Query(alias="filter")]

C = TypeVar("C", bound=BaseModel)
# Above the longest tool timeout, below nothing: a tool may run that long before it answers.
EXECUTE_MARGIN_SECONDS = 5.0


def build(model: type[C], **fields: Any) -> C:
    """A contract from request values; bad values are a 400.

    ``None`` means absent (docs/arcade-compatibility.md §1.2).
    """
    try:
        return model.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise BadRequest(validation_message(exc.errors())) from exc


def formats(values: list[str] | None) -> list[str]:
    """``include_format`` as clients send it: comma-joined (§1.4), or repeated."""
    return [part for value in values or [] for part in value.split(",") if part.strip()]


class AuthorizeToolRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tool_name: str
    tool_version: str | None = None
    user_id: str | None = None
    next_uri: str | None = None


class ExecuteToolRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tool_name: str
    input: dict[str, Any] | None = None
    user_id: str | None = None
    tool_version: str | None = None
    include_error_stacktrace: bool | None = None
    run_at: str | None = None
    webhook: bool | None = None


async def _list(client: RpcClient, query: ListTools, schema: str, extras: bool) -> dict[str, Any]:
    page = await client.call(subjects.TOOLS_LIST, query, Page)
    body = offset_page(page.items, page.total_count, query.offset, query.limit)
    return conform(body, schema, extras=extras)


@router.get("/v1/tools")
async def list_tools(
    client: Rpc,
    project: Project,
    toolkit: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
    include_format: Formats = None,
    user_id: str | None = None,
    include_all_versions: bool = False,
    metadata_filter: Filter = None,
    extras: Extras = False,
) -> dict[str, Any]:
    """One page of tool definitions."""
    page = _page_of_tools(toolkit, offset, limit, user_id, include_all_versions)
    query = build(
        ListTools, **page, project=project, include_format=formats(include_format), filter=metadata_filter
    )
    return await _list(client, query, "ToolDefinitionPage", extras)


@router.get("/v1/tools/{name}")
async def get_tool(
    client: Rpc,
    project: Project,
    name: str,
    include_format: Formats = None,
    user_id: str | None = None,
    extras: Extras = False,
) -> dict[str, Any]:
    """One tool definition; the name in any of §4.4's forms."""
    query = build(
        GetTool, name=name, project=project, include_format=formats(include_format), user_id=user_id
    )
    definition = (await client.call(subjects.TOOLS_GET, query, Document)).body
    return conform(definition, "ToolDefinition", extras=extras)


@router.get("/v1/formatted_tools")
async def list_formatted_tools(
    client: Rpc,
    project: Project,
    format: str = "openai",
    toolkit: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
    user_id: str | None = None,
    include_all_versions: bool = False,
    metadata_filter: Filter = None,
) -> dict[str, Any]:
    """One page of tools in an LLM's function format (OpenAI unless ``format`` says otherwise)."""
    page = _page_of_tools(toolkit, offset, limit, user_id, include_all_versions)
    query = build(ListTools, **page, project=project, format=format, filter=metadata_filter)
    return await _list(client, query, "FormattedToolPage", False)


def _page_of_tools(
    toolkit: str | None, offset: int | None, limit: int | None, user_id: str | None, all_versions: bool
) -> dict[str, Any]:
    """The query fields both tool lists share, the page bounds checked."""
    off, lim = clamp_page(offset, limit)
    return {
        "toolkit": toolkit,
        "offset": off,
        "limit": lim,
        "user_id": user_id,
        "include_all_versions": all_versions,
    }


@router.get("/v1/formatted_tools/{name}")
async def get_formatted_tool(
    client: Rpc, project: Project, name: str, format: str = "openai", user_id: str | None = None
) -> dict[str, Any]:
    """One tool in an LLM's function format."""
    query = build(GetTool, name=name, project=project, format=format, user_id=user_id)
    return (await client.call(subjects.TOOLS_GET, query, Document)).body


@router.post(
    "/v1/tools/authorize", response_model=dict[str, Any], openapi_extra=documented(AuthorizeToolRequest)
)
async def authorize_tool(request: Request, project: Project) -> JSONResponse:
    """Start or confirm a tool's authorization (``completed`` when the user holds a covering token)."""
    body = await json_body(request, AuthorizeToolRequest)
    await limit_user(request.app.state, project, body.user_id)
    return await tool_authorization(rpc_of(request), body, project, extras=extras_asked(request.scope))


async def tool_authorization(
    client: RpcClient, body: AuthorizeToolRequest, project: str, *, extras: bool = False
) -> JSONResponse:
    """The answer to ``POST /v1/tools/authorize`` (also served by the fast lane).

    Raises:
        ValetkeyError: No user id, an unknown tool, or what the executor reported.
    """
    result: dict[str, Any] = await client.call_raw(subjects.TOOLS_AUTHORIZE, authorize_command(body, project))
    return JsonAnswer(authorization_body(result, extras=extras))


def authorize_command(body: AuthorizeToolRequest, project: str) -> AuthorizeTool:
    """The executor's command for ``POST /v1/tools/authorize``.

    Raises:
        BadRequest: No user id, or a value the command refuses.
    """
    if not body.user_id:
        raise BadRequest("user_id is required")
    return build(AuthorizeTool, **body.model_dump(), project=project)


@router.post("/v1/tools/execute", response_model=dict[str, Any], openapi_extra=documented(ExecuteToolRequest))
async def execute_tool(request: Request, project: Project) -> JSONResponse:
    """Run a tool; the status is the executor's (200, or 403 for an unmet requirement). With
    ``run_at``, schedule it instead (docs/scheduled-executions.md)."""
    body = await json_body(request, ExecuteToolRequest)
    await limit_user(request.app.state, project, body.user_id)
    timeout, extras = request.app.state.execute_timeout, extras_asked(request.scope)
    return await tool_execution(rpc_of(request), body, project, timeout, extras=extras)


async def tool_execution(
    client: RpcClient, body: ExecuteToolRequest, project: str, timeout: float, *, extras: bool = False
) -> JSONResponse:
    """The answer to ``POST /v1/tools/execute`` (also served by the fast lane).

    Raises:
        ValetkeyError: A bad command, or what the executor reported for a scheduled run.
    """
    command = build(ExecuteTool, **body.model_dump(), project=project)
    if command.run_at:
        record: dict[str, Any] = await client.call_raw(subjects.TOOLS_SCHEDULE, command)
        return JsonAnswer(conform(scheduled_response(record), "ExecuteToolResponse", extras=extras))
    try:
        raw = await client.call_raw(subjects.TOOLS_EXECUTE, command, timeout=timeout)
    except ValetkeyError as exc:
        # The tool may have run before the error: a client retry could run it twice.
        response = error_response(exc)
        response.headers["x-should-retry"] = "false"
        return response
    status_code, answer = execution_response(raw, extras=extras)
    return JsonAnswer(answer, status_code=status_code, headers={"x-should-retry": "false"})


def execute_timeout(settings: Settings) -> float:
    """How long a tool run may take before the gateway stops waiting (also the MCP gateways')."""
    tools = settings.engine.tools
    connections = [w.http or w.mcp for d in tools.directors for w in d.workers]
    workers = [c.timeout * (1 + c.retry) for c in connections if c is not None]
    return max([tools.timeout_seconds, *workers]) + EXECUTE_MARGIN_SECONDS

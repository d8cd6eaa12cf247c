"""Scheduled executions (``tools.scheduled.*``, Arcade's shapes) and the admin execution history.

See docs/scheduled-executions.md. ``/v1/scheduled_tools`` is a tools route (an ``agent`` key reads
its project's scheduled runs); ``/v1/admin/executions`` needs an admin key. Both answer the
caller's project only.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends

from services.gateway.arcade_schemas import conform
from services.gateway.domain import clamp_page, offset_page
from services.gateway.routes.deps import Extras, Project, require_admin, require_api_key
from services.gateway.routes.tools import Rpc, build
from services.gateway.wire import history_item, tool_execution, tool_execution_detail
from shared.bus import subjects
from shared.contracts.common import Page
from shared.contracts.execution import ExecutionQuery, ExecutionRecord, ExecutionRef, ExecutionStatus

router = APIRouter(tags=["tools"], dependencies=[Depends(require_api_key)])
admin = APIRouter(prefix="/v1/admin/executions", tags=["executions"], dependencies=[Depends(require_admin)])


@router.get("/v1/scheduled_tools")
async def list_scheduled_tools(
    client: Rpc,
    project: Project,
    limit: int | None = None,
    offset: int | None = None,
    tool_name: str | None = None,
    extras: Extras = False,
) -> dict[str, Any]:
    """One page of scheduled executions, newest first; ``tool_name`` keeps one tool's."""
    off, lim = clamp_page(offset, limit)
    query = build(ExecutionQuery, offset=off, limit=lim, tool_name=tool_name, project=project)
    page = await client.call(subjects.SCHEDULED_LIST, query, Page)
    body = offset_page([tool_execution(item) for item in page.items], page.total_count, off, lim)
    return conform(body, "ToolExecutionPage", extras=extras)


@router.get("/v1/scheduled_tools/{execution_id}")
async def get_scheduled_tool(
    client: Rpc, project: Project, execution_id: str, extras: Extras = False
) -> dict[str, Any]:
    """One scheduled execution with its input and attempts."""
    ref = build(ExecutionRef, id=execution_id, project=project)
    record = await client.call(subjects.SCHEDULED_GET, ref, ExecutionRecord)
    detail = tool_execution_detail(record.model_dump(mode="json"))
    return conform(detail, "ScheduledToolExecution", extras=extras)


@admin.get("")
async def list_executions(
    client: Rpc,
    project: Project,
    limit: int | None = None,
    offset: int | None = None,
    user_id: str | None = None,
    tool: str | None = None,
    execution_type: Literal["immediate", "scheduled"] | None = None,
    status: ExecutionStatus | None = None,
) -> dict[str, Any]:
    """One page of the project's execution history, newest first, filtered by user, tool, type or
    status (a status filter reads the latest executions only: docs/scheduled-executions.md)."""
    off, lim = clamp_page(offset, limit)
    query = build(
        ExecutionQuery,
        offset=off,
        limit=lim,
        user_id=user_id,
        tool_name=tool,
        execution_type=execution_type,
        status=status,
        project=project,
    )
    page = await client.call(subjects.EXECUTIONS_LIST, query, Page)
    return offset_page([history_item(item) for item in page.items], page.total_count, off, lim)

"""The console's pages of what happened and what is under way: the execution history and the
authorizations in flight (docs/console.md)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.gateway.console import data
from services.gateway.console.pages import Signed
from services.gateway.console.web import problem, render
from services.gateway.routes.deps import rpc_of
from shared.errors import ValetkeyError

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/executions")
async def executions(
    request: Request,
    session: Signed,
    user_id: str = "",
    tool: str = "",
    status: str = "",
    offset: int = 0,
) -> Response:
    error, page, offset = None, None, max(0, offset)
    try:
        page = await data.executions(
            rpc_of(request), session.project, user_id=user_id, tool=tool, status=status, offset=offset
        )
    except ValetkeyError as exc:
        error = problem(exc)
    filters = {"user_id": user_id, "tool": tool, "status": status}
    return render(
        request,
        "executions.html",
        page=page,
        error=error,
        filters=filters,
        statuses=data.STATUSES,
        pages=data.pager(offset, page.total_count if page else 0, urlencode(filters)),
        nav="executions",
    )


@router.get("/authorizations")
async def authorizations(request: Request, session: Signed) -> Response:
    """In flight and recently failed, side by side: "why did Alice's authorization not finish?"."""
    rpc = rpc_of(request)
    errors, flying, failed = [], None, []
    try:
        flying = await data.in_flight(rpc, session.project)
    except ValetkeyError as exc:
        errors.append(problem(exc))
    try:
        failed = [
            f
            for f in (await data.recent_failures(rpc, session.project)).items
            if f.get("type") == "authorization.failed"
        ]
    except ValetkeyError as exc:
        errors.append(problem(exc))
    return render(
        request,
        "authorizations.html",
        flying=flying,
        failed=failed,
        error="; ".join(errors) or None,
        nav="authorizations",
    )

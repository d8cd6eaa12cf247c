"""The console's pages: each reads over NATS for the session's project and renders one template."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.gateway.console import charts, data
from services.gateway.console.signing import Session
from services.gateway.console.web import HERE, checked_form, problem, render, see_other, session_of
from services.gateway.routes.deps import rpc_of
from services.gateway.settings import GatewaySettings
from services.gateway.wire import execution_response
from shared.bus import subjects
from shared.contracts.authorization import CALLBACK_PATH, AuthRequirement, StartAuthorization
from shared.errors import ValetkeyError

router = APIRouter(prefix="/console", include_in_schema=False)
Signed = Annotated[Session, Depends(session_of)]
CSS = (HERE / "static" / "console.css").read_bytes()


def _back(path: str, notice: str, **query: str | None) -> Response:
    params = {k: v for k, v in query.items() if v} | {"notice": notice}
    return see_other(f"{path}?{urlencode(params)}")


@router.get("/static/console.css")
async def stylesheet() -> Response:
    return Response(CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.get("")
async def overview(request: Request, session: Signed) -> Response:
    rpc = rpc_of(request)
    totals, services, counts, refreshes, starts = await asyncio.gather(
        data.totals(rpc, session.project),
        data.health(rpc),
        data.event_counts(rpc, session.project),
        data.refresh_counts(rpc, session.project),
        data.started_counts(rpc, session.project),
    )
    chart = charts.bars("Current totals in this project", totals)
    series = [
        {"type": name, "total": sum(values), "chart": charts.columns(name, hours, values)}
        for name, hours, values in data.overview_series(counts, refreshes, starts)
    ]
    return render(
        request,
        "overview.html",
        totals=totals,
        chart=chart,
        series=series,
        counted=counts is not None,
        refreshes_counted=refreshes is not None,
        services=services,
        page="overview",
    )


@router.get("/connections")
async def connections(
    request: Request,
    session: Signed,
    user_id: str = "",
    provider_id: str = "",
    offset: int = 0,
    notice: str = "",
) -> Response:
    error, page = None, None
    try:
        page = await data.connections(
            rpc_of(request), session.project, user_id=user_id, provider_id=provider_id, offset=max(0, offset)
        )
    except ValetkeyError as exc:
        error = problem(exc)
    return render(
        request,
        "connections.html",
        page=page,
        error=error,
        notice=notice,
        user_id=user_id,
        provider_id=provider_id,
        offset=max(0, offset),
        size=data.PAGE,
        nav="connections",
    )


@router.post("/connections/refresh")
async def refresh(request: Request, session: Signed) -> Response:
    fields = await checked_form(request, session)
    user, provider = fields.get("user_id", ""), fields.get("provider_id", "")
    try:
        outcome = await data.force_refresh(rpc_of(request), session.project, user, provider)
        notice = f"Refresh of {provider} for {user}: {outcome.status}"
    except ValetkeyError as exc:
        notice = f"Refresh failed: {problem(exc)}"
    return _back("/console/connections", notice, user_id=user)


@router.post("/connections/revoke")
async def revoke(request: Request, session: Signed) -> Response:
    fields = await checked_form(request, session)
    try:
        await data.revoke(rpc_of(request), session.project, fields.get("connection_id", ""))
        notice = "Connection revoked: its token is deleted."
    except ValetkeyError as exc:
        notice = f"Revoke failed: {problem(exc)}"
    return _back("/console/connections", notice, user_id=fields.get("user_id"))


@router.get("/providers")
async def providers(request: Request, session: Signed, notice: str = "") -> Response:
    gw: GatewaySettings = request.app.state.gateway
    error, items = None, []
    try:
        items = await data.providers(rpc_of(request), session.project)
    except ValetkeyError as exc:
        error = problem(exc)
    redirect = gw.public_url.rstrip("/") + CALLBACK_PATH
    return render(
        request,
        "providers.html",
        items=items,
        error=error,
        notice=notice,
        redirect_uri=redirect,
        nav="providers",
    )


@router.post("/providers/{provider_id}/test")
async def test_provider(request: Request, session: Signed, provider_id: str) -> Response:
    """Start a flow at the provider for the operator (user ``console:<key digest>``) and go there."""
    await checked_form(request, session)
    start = StartAuthorization(
        project=session.project, user_id=f"console:{session.key}", requirement=AuthRequirement(id=provider_id)
    )
    try:
        answer = await rpc_of(request).call_raw(subjects.AUTH_START, start)
    except ValetkeyError as exc:
        return _back("/console/providers", f"Test of {provider_id} failed: {problem(exc)}")
    if answer.get("status") == "pending" and answer.get("url"):
        return see_other(str(answer["url"]))
    return _back("/console/providers", f"{provider_id}: {answer.get('status')}")


def _by_toolkit(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for tool in items:
        groups.setdefault(str((tool.get("toolkit") or {}).get("name", "")), []).append(tool)
    return dict(sorted(groups.items()))


@router.get("/tools")
async def tools(request: Request, session: Signed, toolkit: str = "", offset: int = 0) -> Response:
    error, groups, total = None, {}, 0
    try:
        page = await data.tools(rpc_of(request), session.project, toolkit=toolkit, offset=max(0, offset))
        groups, total = _by_toolkit(page.items), page.total_count
    except ValetkeyError as exc:
        error = problem(exc)
    return render(
        request,
        "tools.html",
        groups=groups,
        total=total,
        toolkit=toolkit,
        offset=offset,
        error=error,
        nav="tools",
    )


@router.get("/tools/{name}")
async def playground(request: Request, session: Signed, name: str) -> Response:
    return render(request, "playground.html", name=name, user_id="", given="{}", result=None, nav="tools")


@router.post("/tools/{name}")
async def execute(request: Request, session: Signed, name: str) -> Response:
    fields = await checked_form(request, session)
    user, given_text = fields.get("user_id", ""), fields.get("input", "") or "{}"
    result: dict[str, Any] = {}
    try:
        given = json.loads(given_text)
        if not isinstance(given, dict):
            raise ValueError
        status, body = execution_response(
            await data.execute(rpc_of(request), session.project, name, user, given), extras=True
        )
        authorization = (body.get("output") or {}).get("authorization")
        result = {"status": status, "body": json.dumps(body, indent=2), "authorization": authorization}
    except ValueError:
        result = {"error": 'The input must be a JSON object, like {"num_splines": 3}.'}
    except ValetkeyError as exc:
        result = {"error": problem(exc)}
    return render(
        request, "playground.html", name=name, user_id=user, given=given_text, result=result, nav="tools"
    )


@router.get("/workers")
async def workers(request: Request, session: Signed) -> Response:
    rpc = rpc_of(request)
    error, items = None, []
    try:
        items = (await data.workers(rpc, session.project)).items
    except ValetkeyError as exc:
        error = problem(exc)
    services = await data.health(rpc)
    return render(request, "workers.html", items=items, services=services, error=error, nav="workers")


@router.get("/failures")
async def failures(request: Request, session: Signed) -> Response:
    error, items = None, []
    try:
        items = (await data.recent_failures(rpc_of(request), session.project)).items
    except ValetkeyError as exc:
        error = problem(exc)
    return render(request, "failures.html", items=items, error=error, nav="failures")


@router.get("/webhooks")
async def webhooks(request: Request, session: Signed, offset: int = 0, notice: str = "") -> Response:
    rpc = rpc_of(request)
    error, endpoints, dead, attempts = None, None, None, []
    try:
        endpoints = await data.endpoints(rpc, session.project)
        ids = [e.id for e in endpoints.items]
        recent, dead = await asyncio.gather(
            data.recent_deliveries(rpc, session.project, ids),
            data.dead_letters(rpc, session.project, max(0, offset)),
        )
        attempts = data.attempt_rows(recent)
    except ValetkeyError as exc:
        error = problem(exc)
    return render(
        request,
        "webhooks.html",
        endpoints=endpoints,
        attempts=attempts,
        dead=dead,
        error=error,
        notice=notice,
        nav="webhooks",
    )


@router.post("/webhooks/dead_letters/{dead_id}/replay")
async def replay(request: Request, session: Signed, dead_id: str) -> Response:
    await checked_form(request, session)
    try:
        replayed = await data.replay(rpc_of(request), session.project, dead_id)
        notice = f"Queued again: {replayed.replayed} delivery."
    except ValetkeyError as exc:
        notice = f"Replay failed: {problem(exc)}"
    return _back("/console/webhooks", notice)

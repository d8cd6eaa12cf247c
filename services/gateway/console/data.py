"""What the console shows, read over the same NATS requests as the ``/v1`` admin routes, per project."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast, get_args

from services.gateway.routes.health import ping
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.authorization import ConnectionRef, InFlight, InFlightQuery, ListConnections
from shared.contracts.common import InProject, Page, PageQuery
from shared.contracts.execution import ExecuteTool, ExecutionQuery, ExecutionStatus, ListTools
from shared.contracts.tokens import RefreshOutcome, RefreshToken
from shared.contracts.webhooks import (
    DeadLetterPage,
    DeadLetterQuery,
    DeadLetterRef,
    EndpointPage,
    EventCounts,
    EventCountsQuery,
    RecentDeliveries,
    RecentDeliveriesQuery,
    RecentFailures,
    RecentFailuresQuery,
    Replayed,
)
from shared.errors import ValetkeyError

PAGE = 25
# A tool may run this long before it answers (the playground waits for it like /v1/tools/execute).
EXECUTE_TIMEOUT_S = 65.0
STATUSES: tuple[str, ...] = get_args(ExecutionStatus)


async def connections(
    rpc: RpcClient, project: str, *, user_id: str | None, provider_id: str | None, offset: int
) -> Page:
    query = ListConnections(
        project=project, user_id=user_id or None, provider_id=provider_id or None, offset=offset, limit=PAGE
    )
    return await rpc.call(subjects.CONNECTIONS_LIST, query, Page)


async def force_refresh(rpc: RpcClient, project: str, user_id: str, provider_id: str) -> RefreshOutcome:
    """The token_refresher's own refresh, forced: the stored token is replaced even if still valid."""
    ask = RefreshToken(user_id=user_id, provider_id=provider_id, project=project, force=True)
    return await rpc.call(subjects.TOKEN_REFRESH, ask, RefreshOutcome, timeout=EXECUTE_TIMEOUT_S)


async def revoke(rpc: RpcClient, project: str, connection_id: str) -> None:
    await rpc.call_raw(subjects.CONNECTIONS_DELETE, ConnectionRef(id=connection_id, project=project))


async def providers(rpc: RpcClient, project: str) -> list[dict[str, Any]]:
    return (await rpc.call(subjects.PROVIDERS_LIST, InProject(project=project), Page)).items


async def tools(rpc: RpcClient, project: str, *, toolkit: str | None, offset: int) -> Page:
    query = ListTools(project=project, toolkit=toolkit or None, offset=offset, limit=100, with_source=True)
    return await rpc.call(subjects.TOOLS_LIST, query, Page)


async def execute(
    rpc: RpcClient, project: str, tool: str, user_id: str, given: dict[str, Any]
) -> dict[str, Any]:
    command = ExecuteTool(project=project, tool_name=tool, user_id=user_id or None, input=given)
    answer: dict[str, Any] = await rpc.call_raw(subjects.TOOLS_EXECUTE, command, timeout=EXECUTE_TIMEOUT_S)
    return answer


async def workers(rpc: RpcClient, project: str) -> Page:
    return await rpc.call(subjects.WORKERS_LIST, PageQuery(project=project, limit=100), Page)


async def health(rpc: RpcClient) -> dict[str, dict[str, Any]]:
    results = await asyncio.gather(*(ping(rpc, s) for s in subjects.SERVICES))
    return dict(zip(subjects.SERVICES, results, strict=True))


async def endpoints(rpc: RpcClient, project: str) -> EndpointPage:
    return await rpc.call(
        subjects.WEBHOOKS_ENDPOINTS_LIST, PageQuery(project=project, limit=100), EndpointPage
    )


async def dead_letters(rpc: RpcClient, project: str, offset: int = 0) -> DeadLetterPage:
    query = DeadLetterQuery(project=project, offset=offset, limit=PAGE)
    return await rpc.call(subjects.WEBHOOKS_DEAD_LIST, query, DeadLetterPage)


async def replay(rpc: RpcClient, project: str, dead_id: str) -> Replayed:
    return await rpc.call(subjects.WEBHOOKS_DEAD_REPLAY, DeadLetterRef(id=dead_id, project=project), Replayed)


async def _count(read: Any) -> int | None:
    try:
        return int((await read).total_count)
    except ValetkeyError:
        return None


async def totals(rpc: RpcClient, project: str) -> dict[str, int | None]:
    """Current totals for the overview, one cheap request each (a page of one); None: not answered."""
    one = PageQuery(project=project, limit=1)
    names = ("connections", "tools", "workers", "webhook endpoints", "dead letters")
    reads = (
        rpc.call(subjects.CONNECTIONS_LIST, ListConnections(project=project, limit=1), Page),
        rpc.call(subjects.TOOLS_LIST, ListTools(project=project, limit=1), Page),
        rpc.call(subjects.WORKERS_LIST, one, Page),
        rpc.call(subjects.WEBHOOKS_ENDPOINTS_LIST, one, EndpointPage),
        rpc.call(subjects.WEBHOOKS_DEAD_LIST, DeadLetterQuery(project=project, limit=1), DeadLetterPage),
    )
    counts = await asyncio.gather(*(_count(r) for r in reads))
    return dict(zip(names, counts, strict=True))


async def event_counts(rpc: RpcClient, project: str, hours: int = 24) -> EventCounts | None:
    """Events per type and hour (the webhooks service counts them); None when it does not answer."""
    try:
        query = EventCountsQuery(project=project, hours=hours)
        return await rpc.call(subjects.WEBHOOKS_EVENT_COUNTS, query, EventCounts)
    except ValetkeyError:
        return None


async def recent_failures(rpc: RpcClient, project: str) -> RecentFailures:
    """The latest failed authorizations and refreshes, with their reasons (kept by the webhooks service)."""
    query = RecentFailuresQuery(project=project)
    return await rpc.call(subjects.WEBHOOKS_RECENT_FAILURES, query, RecentFailures)


async def executions(
    rpc: RpcClient, project: str, *, user_id: str, tool: str, status: str, offset: int
) -> Page:
    """One page of the execution history (``GET /v1/admin/executions``'s request), newest first."""
    query = ExecutionQuery(
        project=project,
        user_id=user_id or None,
        tool_name=tool or None,
        status=cast(ExecutionStatus, status) if status in STATUSES else None,
        offset=offset,
        limit=PAGE,
    )
    return await rpc.call(subjects.EXECUTIONS_LIST, query, Page)


def pager(offset: int, total: int, query: str, size: int = PAGE) -> dict[str, str | None]:
    """The previous and next page links of a list (None where there is none), its filters kept."""
    previous = f"?{query}&offset={max(offset - size, 0)}" if offset > 0 else None
    following = f"?{query}&offset={offset + size}" if offset + size < total else None
    return {"previous": previous, "next": following}


async def in_flight(rpc: RpcClient, project: str) -> InFlight:
    """The project's authorizations under way, newest first (the authorizer's index of them)."""
    return await rpc.call(subjects.AUTH_IN_FLIGHT, InFlightQuery(project=project), InFlight)


async def recent_deliveries(rpc: RpcClient, project: str, endpoint_ids: list[str]) -> RecentDeliveries:
    """The latest attempts to each endpoint; none asked when the project has no endpoint."""
    if not endpoint_ids:
        return RecentDeliveries()
    query = RecentDeliveriesQuery(project=project, endpoint_ids=endpoint_ids[:100])
    return await rpc.call(subjects.WEBHOOKS_RECENT_DELIVERIES, query, RecentDeliveries)


def attempt_rows(recent: RecentDeliveries) -> list[dict[str, Any]]:
    """Every endpoint's attempts as one table, newest first; each with its endpoint and its time as ISO."""
    rows = [
        {**attempt, "endpoint_id": endpoint_id, "at": datetime.fromtimestamp(attempt["at"], UTC).isoformat()}
        for endpoint_id, attempts in recent.items.items()
        for attempt in attempts
    ]
    return sorted(rows, key=lambda row: str(row["at"]), reverse=True)


async def refresh_counts(rpc: RpcClient, project: str, hours: int = 24) -> EventCounts | None:
    """Refreshes started, done, failed and late per hour (the token_refresher counts them); None:
    it did not answer."""
    try:
        query = EventCountsQuery(project=project, hours=hours)
        return await rpc.call(subjects.REFRESH_COUNTS, query, EventCounts)
    except ValetkeyError:
        return None


async def started_counts(rpc: RpcClient, project: str, hours: int = 24) -> EventCounts | None:
    """Authorizations started per hour (the authorizer counts them: a start has no event)."""
    try:
        query = EventCountsQuery(project=project, hours=hours)
        return await rpc.call(subjects.AUTH_STARTED_COUNTS, query, EventCounts)
    except ValetkeyError:
        return None


# The overview's series in this order (the rest after them, by name): each counted series beside
# the events of the same kind.
SERIES_ORDER = (
    "authorization.started",
    "authorization.completed",
    "authorization.failed",
    "refresh.started",
    "token.refreshed",
    "token.refresh_failed",
    "refresh.late",
)
# What the overview takes from the services' own counts (done and failed are events already).
COUNTED = ("authorization.started", "refresh.started", "refresh.late")


def overview_series(
    events: EventCounts | None, *counted: EventCounts | None
) -> list[tuple[str, list[str], list[int]]]:
    """The events per type and the ``COUNTED`` series of the services' own counts, on one axis of
    hours (the events'; an hour the events lack is left out), as (name, hours, values)."""
    answered = [c for c in counted if c is not None]
    hours = (events or next(iter(answered), None) or EventCounts()).hours
    merged = dict(events.counts) if events else {}
    for counts in answered:
        at = {hour: i for i, hour in enumerate(counts.hours)}
        for name in COUNTED:
            if name in counts.counts:
                values = counts.counts[name]
                merged[name] = [values[at[h]] if h in at and at[h] < len(values) else 0 for h in hours]

    def rank(name: str) -> tuple[int, str]:
        return (SERIES_ORDER.index(name) if name in SERIES_ORDER else len(SERIES_ORDER), name)

    return [(name, hours, merged[name]) for name in sorted(merged, key=rank)]

"""The tool catalog as the gateways see it: fetched from the executor, cached briefly per process.

Every ``tools/list`` and ``tools/call`` needs the catalog (the names a gateway exposes and the
qualified names the executor runs), so a replica asks the executor at most once per
``CATALOG_TTL_SECONDS`` and project (a gateway sees its project's catalog); a tool added
meanwhile is found on the first call that misses it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from services.gateway.mcp.domain import ExposedTool, Gateway, Selection, select
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.common import Page
from shared.contracts.execution import ListTools

CATALOG_TTL_SECONDS = 10.0
PAGE = 100


class GatewayTools:
    """Which tools each gateway exposes, from one cached copy of the catalog.

    Args:
        rpc: The gateway's NATS client (available once the app has started).
        ttl: Seconds a fetched catalog is used before it is fetched again.
    """

    def __init__(self, rpc: Callable[[], RpcClient], ttl: float = CATALOG_TTL_SECONDS) -> None:
        self._rpc = rpc
        self._ttl = ttl
        # project -> (when fetched, the project's catalog views)
        self._catalogs: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._selections: dict[Gateway, Selection] = {}
        self._lock = asyncio.Lock()

    def _fetched_at(self, project: str) -> float:
        return self._catalogs.get(project, (-float("inf"), []))[0]

    async def selection(self, gateway: Gateway) -> Selection:
        """The tools ``gateway`` exposes now, from its project's catalog."""
        fetched_at = self._fetched_at(gateway.project)
        if time.monotonic() - fetched_at > self._ttl:
            await self._refresh(gateway.project, fetched_at)
        found = self._selections.get(gateway)
        if found is None:
            found = self._selections[gateway] = select(gateway, self._catalogs[gateway.project][1])
        return found

    async def find(self, gateway: Gateway, name: str) -> ExposedTool | None:
        """The tool ``name`` (its MCP name, case-insensitively) if ``gateway`` exposes it.

        A name not found in the cached copy fetches the catalog once more: the tool may be new.
        """
        tool = (await self.selection(gateway)).by_name.get(name.lower())
        if tool is None:
            await self._refresh(gateway.project, self._fetched_at(gateway.project))
            tool = (await self.selection(gateway)).by_name.get(name.lower())
        return tool

    async def _refresh(self, project: str, seen: float) -> None:
        async with self._lock:
            if self._fetched_at(project) != seen:  # another request fetched it while this one waited
                return
            views = await self._fetch(project)
            self._catalogs[project] = (time.monotonic(), views)
            self._selections = {g: s for g, s in self._selections.items() if g.project != project}

    async def _fetch(self, project: str) -> list[dict[str, Any]]:
        client, views, offset = self._rpc(), [], 0
        while True:
            query = ListTools(offset=offset, limit=PAGE, include_format=["anthropic"], project=project)
            page = await client.call(subjects.TOOLS_LIST, query, Page)
            views += page.items
            offset += PAGE
            if not page.items or offset >= page.total_count:
                return views

"""The tool catalog as the gateways see it: fetched from the executor, cached briefly per process.

Every ``tools/list`` and ``tools/call`` needs the catalog (the names a gateway exposes and the
qualified names the executor runs), so a replica asks the executor at most once per
``CATALOG_TTL_SECONDS``; a tool added meanwhile is found on the first call that misses it.
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
        self._views: list[dict[str, Any]] = []
        self._fetched_at = -float("inf")
        self._selections: dict[Gateway, Selection] = {}
        self._lock = asyncio.Lock()

    async def selection(self, gateway: Gateway) -> Selection:
        """The tools ``gateway`` exposes now."""
        if time.monotonic() - self._fetched_at > self._ttl:
            await self._refresh(self._fetched_at)
        found = self._selections.get(gateway)
        if found is None:
            found = self._selections[gateway] = select(gateway, self._views)
        return found

    async def find(self, gateway: Gateway, name: str) -> ExposedTool | None:
        """The tool ``name`` (its MCP name, case-insensitively) if ``gateway`` exposes it.

        A name not found in the cached copy fetches the catalog once more: the tool may be new.
        """
        tool = (await self.selection(gateway)).by_name.get(name.lower())
        if tool is None:
            await self._refresh(self._fetched_at)
            tool = (await self.selection(gateway)).by_name.get(name.lower())
        return tool

    async def _refresh(self, seen: float) -> None:
        async with self._lock:
            if self._fetched_at != seen:  # another request fetched it while this one waited
                return
            self._views = await self._fetch()
            self._fetched_at = time.monotonic()
            self._selections = {}

    async def _fetch(self) -> list[dict[str, Any]]:
        client, views, offset = self._rpc(), [], 0
        while True:
            query = ListTools(offset=offset, limit=PAGE, include_format=["anthropic"])
            page = await client.call(subjects.TOOLS_LIST, query, Page)
            views += page.items
            offset += PAGE
            if not page.items or offset >= page.total_count:
                return views

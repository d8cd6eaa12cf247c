"""Dependencies shared by the routes: the API key check and the NATS client.

Both are ``async`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool,
which costs more than the work they do.
"""

from __future__ import annotations

from fastapi import Request

from services.gateway.domain import ApiKeys
from shared.bus.messaging import RpcClient


async def require_api_key(request: Request) -> None:
    """Reject requests without a known API key (401 in the error shape)."""
    keys: ApiKeys = request.app.state.api_keys
    keys.check(request.headers.get("authorization"))


def rpc_of(request: Request) -> RpcClient:
    """The NATS client, for direct use in a route."""
    client: RpcClient = request.app.state.rpc
    return client


async def rpc(request: Request) -> RpcClient:
    """The NATS client, as a dependency."""
    return rpc_of(request)

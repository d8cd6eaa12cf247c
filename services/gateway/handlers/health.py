"""`GET /v1/health`: one NATS ping per service."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from shared import subjects
from shared.contracts.common import Ping, Pong
from shared.errors import ValetkeyError
from shared.messaging import RpcClient

router = APIRouter()
PING_TIMEOUT_S = 1.0


async def _ping(rpc: RpcClient, service: str) -> dict[str, str | bool]:
    try:
        pong = await rpc.call(subjects.health_subject(service), Ping(), Pong, timeout=PING_TIMEOUT_S)
    except ValetkeyError as exc:
        return {"reachable": False, "reason": exc.message}
    return {"reachable": True, "instance": pong.instance}


@router.get(
    "/v1/health", tags=["health"], responses={503: {"description": "A service is not reachable; same body"}}
)
async def health(request: Request) -> JSONResponse:
    """Healthy when every service answers its ping; 503 with the same body otherwise."""
    rpc: RpcClient = request.app.state.rpc
    results = await asyncio.gather(*(_ping(rpc, s) for s in subjects.SERVICES))
    services = dict(zip(subjects.SERVICES, results, strict=True))
    down = [name for name, result in services.items() if not result["reachable"]]
    body = {"healthy": not down, "services": services}
    if down:
        body["reason"] = f"not reachable: {', '.join(down)}"
    return JSONResponse(body, status_code=503 if down else 200)

"""`GET /v1/health`: one NATS ping per service."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.gateway.routes.deps import Extras
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.common import Ping, Pong
from shared.errors import ValetkeyError

router = APIRouter()
PING_TIMEOUT_S = 1.0


async def ping(rpc: RpcClient, service: str) -> dict[str, Any]:
    try:
        pong = await rpc.call(subjects.health_subject(service), Ping(), Pong, timeout=PING_TIMEOUT_S)
    except ValetkeyError as exc:
        return {"reachable": False, "reason": exc.message}
    answer: dict[str, Any] = {"reachable": True, "instance": pong.instance}
    if pong.dependencies:
        answer["dependencies"] = pong.dependencies
    return answer


def _problems(services: dict[str, dict[str, Any]]) -> list[str]:
    """What is wrong, one phrase per service: unreachable, or a dependency it cannot reach."""
    problems = []
    for name, result in services.items():
        if not result["reachable"]:
            problems.append(f"{name} not reachable")
        problems += [
            f"{name} cannot reach {dep}" for dep, ok in result.get("dependencies", {}).items() if not ok
        ]
    return problems


@router.get(
    "/v1/health", tags=["health"], responses={503: {"description": "A service is not reachable; same body"}}
)
async def health(request: Request, extras: Extras = False) -> JSONResponse:
    """Healthy when every service answers its ping and reaches its Redis; 503 otherwise.

    Arcade's body is ``{"healthy"}``; each service's answer is valetkey's extra
    (``Valetkey-Extras: true``, docs/arcade-compatibility.md §1.6). A 503 is an error to every
    client and says what is wrong: it carries the services and the reason always.
    """
    rpc: RpcClient = request.app.state.rpc
    results = await asyncio.gather(*(ping(rpc, s) for s in subjects.SERVICES))
    services = dict(zip(subjects.SERVICES, results, strict=True))
    problems = _problems(services)
    body: dict[str, Any] = {"healthy": not problems}
    if extras or problems:
        body["services"] = services
    if problems:
        body["reason"] = "; ".join(problems)
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
    return JSONResponse(body)

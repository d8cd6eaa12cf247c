"""Admin API for webhooks: endpoints (``/v1/admin/webhooks``) and dead letters.

Secrets leave the engine exactly twice: in the answer to create and to rotate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.domain import clamp_page, offset_page
from services.gateway.handlers.deps import require_api_key
from services.gateway.webhooks import Webhooks
from services.gateway.webhooks.sender import vet_target
from services.gateway.webhooks.store import Endpoint

router = APIRouter(prefix="/v1/admin/webhooks", tags=["webhooks"], dependencies=[Depends(require_api_key)])


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(default_factory=lambda: ["*"])
    enabled: bool = True
    description: str = Field(default="", max_length=500)


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[str] | None = None
    enabled: bool | None = None
    description: str | None = Field(default=None, max_length=500)


def _webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def _endpoint_view(endpoint: Endpoint, secret: str | None = None) -> dict[str, Any]:
    view = endpoint.public()
    view.update(created_at=_iso(endpoint.created_at), updated_at=_iso(endpoint.updated_at))
    if secret is not None:
        view["secret"] = secret
    return view


def _dead_view(record: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in record.items() if k != "body"}
    view.update(
        first_queued_at=_iso(record["first_queued_at"]),
        dead_at=_iso(record["dead_at"]),
        payload=json.loads(record["body"]),
    )
    return view


async def _vet(webhooks: Webhooks, url: str) -> None:
    await vet_target(url, allow_private=webhooks.config.allow_private_targets, resolver=webhooks.resolver)


# Dead-letter routes come first so ``dead_letters`` is never taken for an endpoint id.


@router.get("/dead_letters")
async def list_dead_letters(
    request: Request, offset: int | None = None, limit: int | None = None, endpoint_id: str | None = None
) -> dict[str, Any]:
    """Deliveries that ran out of retries, newest first."""
    off, lim = clamp_page(offset, limit)
    records, total = await _webhooks(request).dead_letters.page(off, lim, endpoint_id)
    return offset_page([_dead_view(r) for r in records], total, off, lim)


@router.post("/dead_letters/replay", status_code=202)
async def replay_all(request: Request, endpoint_id: str | None = None) -> dict[str, int]:
    """Queue every dead letter (of one endpoint, when given) for delivery again."""
    webhooks = _webhooks(request)
    records = await webhooks.dead_letters.all()
    chosen = [r for r in records if endpoint_id is None or r["endpoint_id"] == endpoint_id]
    for record in chosen:
        await webhooks.replay(record["id"])
    return {"replayed": len(chosen)}


@router.post("/dead_letters/{dead_id}/replay", status_code=202)
async def replay_one(request: Request, dead_id: str) -> dict[str, int]:
    """Queue one dead letter for delivery again, with a fresh retry window."""
    await _webhooks(request).replay(dead_id)
    return {"replayed": 1}


@router.delete("/dead_letters/{dead_id}", status_code=204)
async def delete_dead_letter(request: Request, dead_id: str) -> Response:
    dead = _webhooks(request).dead_letters
    await dead.get(dead_id)
    await dead.remove(dead_id)
    return Response(status_code=204)


@router.post("", status_code=201)
async def create_endpoint(request: Request, body: EndpointCreate) -> JSONResponse:
    """Create an endpoint; the answer carries its secret, which is never shown again."""
    webhooks = _webhooks(request)
    await _vet(webhooks, body.url)
    endpoint, secret = await webhooks.endpoints.create(body.url, body.events, body.enabled, body.description)
    return JSONResponse(_endpoint_view(endpoint, secret), status_code=201)


@router.get("")
async def list_endpoints(
    request: Request, offset: int | None = None, limit: int | None = None
) -> dict[str, Any]:
    off, lim = clamp_page(offset, limit)
    endpoints = await _webhooks(request).endpoints.all()
    items = [_endpoint_view(e) for e in endpoints[off : off + lim]]
    return offset_page(items, len(endpoints), off, lim)


@router.get("/{endpoint_id}")
async def get_endpoint(request: Request, endpoint_id: str) -> dict[str, Any]:
    return _endpoint_view(await _webhooks(request).endpoints.require(endpoint_id))


@router.patch("/{endpoint_id}")
async def update_endpoint(request: Request, endpoint_id: str, body: EndpointUpdate) -> dict[str, Any]:
    """Change url, events, enabled or description; fields left out stay as they are."""
    webhooks = _webhooks(request)
    changes = body.model_dump(exclude_none=True)
    await webhooks.endpoints.require(endpoint_id)
    if "url" in changes:
        await _vet(webhooks, changes["url"])
    return _endpoint_view(await webhooks.endpoints.update(endpoint_id, changes))


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(request: Request, endpoint_id: str) -> Response:
    """Delete an endpoint; its queued deliveries are dropped when their turn comes."""
    await _webhooks(request).endpoints.delete(endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate_secret")
async def rotate_secret(request: Request, endpoint_id: str) -> dict[str, Any]:
    """A new secret; deliveries carry signatures by the old one too during the grace period."""
    endpoint, secret = await _webhooks(request).endpoints.rotate(endpoint_id)
    return _endpoint_view(endpoint, secret)

"""The end-user connections page: a short-lived signed link for one user, minted by the platform.

``POST /v1/admin/user_sessions`` (an admin key) answers the link; ``/connect/<token>`` lists
that user's connections and lets them revoke one or start an authorization for a provider the
link allows. The token is the capability (nothing works without it) and every form carries a
CSRF value derived from it; an expired link shows the expiry page.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.console import data
from services.gateway.console.signing import Expired, UserLink
from services.gateway.console.web import CsrfRefused, form, problem, render, see_other, signer
from services.gateway.routes.deps import Project, require_admin, rpc_of
from services.gateway.settings import GatewaySettings
from shared.bus import subjects
from shared.contracts.authorization import AuthRequirement, StartAuthorization
from shared.errors import Forbidden, Unauthorized, ValetkeyError
from shared.tokens.model import connection_id_of

admin = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)])
pages = APIRouter(prefix="/connect", include_in_schema=False)
PURPOSE = "user-session"
MAX_TTL = 24 * 3600


class UserSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=256)
    allowed_providers: list[str] | None = None
    ttl_seconds: int = Field(default=900, ge=1, le=MAX_TTL)


@admin.post("/v1/admin/user_sessions", status_code=201)
async def mint(body: UserSessionRequest, request: Request, project: Project) -> dict[str, Any]:
    """A link the platform hands to one signed-in user: their connections, for ``ttl_seconds``."""
    gw: GatewaySettings = request.app.state.gateway
    allowed = tuple(body.allowed_providers) if body.allowed_providers else None
    link = UserLink(project, body.user_id, allowed, 0)
    token = signer(request).sign(PURPOSE, link.payload(), body.ttl_seconds)
    expires = UserLink.of(signer(request).verify(PURPOSE, token)).exp
    return {
        "url": f"{gw.public_url.rstrip('/')}/connect/{token}",
        "user_id": body.user_id,
        "expires_at": datetime.fromtimestamp(expires, UTC).isoformat(),
    }


def _notice(token: str, text: str) -> Response:
    return see_other(f"/connect/{token}?{urlencode({'notice': text})}")


def _csrf(token: str) -> str:
    return hashlib.sha256(f"connect-csrf\x00{token}".encode()).hexdigest()[:32]


def _link(request: Request, token: str) -> UserLink:
    return UserLink.of(signer(request).verify(PURPOSE, token))


async def _providers(request: Request, link: UserLink) -> list[str]:
    try:
        items = await data.providers(rpc_of(request), link.project)
    except ValetkeyError:
        return []
    return [str(p["id"]) for p in items if p.get("status") == "active" and link.allows(str(p["id"]))]


@pages.get("/{token}")
async def page(request: Request, token: str, notice: str = "") -> Response:
    try:
        link = _link(request, token)
    except Expired:
        return render(request, "connect_expired.html", 410)
    except (Unauthorized, ValueError, KeyError):
        return render(request, "error.html", 404, title="Not found", message="This link is not valid.")
    error, items = None, []
    try:
        found = await data.connections(
            rpc_of(request), link.project, user_id=link.user_id, provider_id=None, offset=0
        )
        items = found.items
    except ValetkeyError as exc:
        error = problem(exc)
    return render(
        request,
        "connect.html",
        link=link,
        items=items,
        providers=await _providers(request, link),
        csrf=_csrf(token),
        token=token,
        notice=notice,
        error=error,
        expires=datetime.fromtimestamp(link.exp, UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


async def _checked(request: Request, token: str) -> tuple[UserLink | None, dict[str, str]]:
    try:
        link = _link(request, token)
    except Expired:
        return None, {}
    fields = await form(request)
    if not hmac.compare_digest(fields.get("csrf", "").encode(), _csrf(token).encode()):
        raise CsrfRefused
    return link, fields


@pages.post("/{token}/revoke")
async def revoke(request: Request, token: str) -> Response:
    link, fields = await _checked(request, token)
    if link is None:
        return render(request, "connect_expired.html", 410)
    provider = fields.get("provider_id", "")
    # The id is derived from this link's user: a user can revoke only their own connections.
    connection = connection_id_of(link.user_id, provider, link.project)
    try:
        await data.revoke(rpc_of(request), link.project, connection)
        notice = f"Access to {provider} removed."
    except ValetkeyError as exc:
        notice = f"Could not remove {provider}: {problem(exc)}"
    return _notice(token, notice)


@pages.post("/{token}/authorize")
async def authorize(request: Request, token: str) -> Response:
    link, fields = await _checked(request, token)
    if link is None:
        return render(request, "connect_expired.html", 410)
    provider = fields.get("provider_id", "")
    try:
        if not link.allows(provider):
            raise Forbidden(f"{provider} is not offered on this page")
        start = StartAuthorization(
            project=link.project, user_id=link.user_id, requirement=AuthRequirement(id=provider)
        )
        answer = await rpc_of(request).call_raw(subjects.AUTH_START, start)
    except ValetkeyError as exc:
        return _notice(token, f"Could not connect {provider}: {problem(exc)}")
    if answer.get("status") == "pending" and answer.get("url"):
        return see_other(str(answer["url"]))
    return _notice(token, f"{provider} is already connected.")

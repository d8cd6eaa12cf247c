"""Signing in to the console with an admin API key, and out again.

The sign-in form is protected by a double-submit token (a cookie and a field that must match),
since no session exists yet to hold one.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.gateway.console.signing import SESSION_SECONDS, Session
from services.gateway.console.web import (
    COOKIE,
    CsrfRefused,
    checked_form,
    form,
    render,
    secure,
    see_other,
    session_of,
    set_session,
    signer,
)
from services.gateway.domain import ApiKeys
from shared.errors import Unauthorized

router = APIRouter(prefix="/console", include_in_schema=False)
PRE_SESSION = "vk_console_pre"
UNKNOWN_KEY = "That API key is not one this engine accepts."
AGENT_KEY = "That is an agent key; the console needs an admin key."


def local_path(next_path: str | None) -> str:
    """Only a path inside the console is followed after sign-in (no open redirect)."""
    parts = urlsplit(next_path or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/console"):
        return "/console"
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    status = 401 if error else 200
    response = render(request, "sign_in.html", status, csrf=token, next=local_path(next), error=error)
    response.set_cookie(
        PRE_SESSION,
        token,
        max_age=3600,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    fields = await form(request)
    sent, kept = fields.get("csrf", ""), request.cookies.get(PRE_SESSION, "")
    if not sent or not kept or not hmac.compare_digest(sent.encode(), kept.encode()):
        raise CsrfRefused
    key = fields.get("api_key", "").strip()
    keys: ApiKeys = request.app.state.api_keys
    try:
        principal = keys.check(key)
    except Unauthorized:
        return await sign_in_page(request, fields.get("next"), UNKNOWN_KEY)
    if principal.role != "admin":
        return await sign_in_page(request, fields.get("next"), AGENT_KEY)
    session = Session.open(principal.project, key)
    response = see_other(local_path(fields.get("next")))
    set_session(
        response,
        request,
        signer(request).sign("console", session.payload(), SESSION_SECONDS),
        SESSION_SECONDS,
    )
    response.delete_cookie(PRE_SESSION, path="/console")
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    await checked_form(request, await session_of(request))
    response = see_other("/console/sign-in")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure(request))
    return response

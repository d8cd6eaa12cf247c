"""Helpers for end-to-end authorization tests: the API calls and the browser steps, over HTTP."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import httpx

from tests.support.browser import consent, consent_and_follow
from tests.support.engine import Engine


def new_user(tag: str) -> str:
    """A user id of its own per test, so tests sharing one engine never see each other's tokens."""
    return f"{tag}-{secrets.token_hex(4)}@example.com"


async def start(
    engine: Engine, user: str, *, provider: str, scopes: list[str], **extra: Any
) -> dict[str, Any]:
    """``POST /v1/auth/authorize`` the way arcadepy's ``auth.start`` sends it."""
    body = {
        "auth_requirement": {
            "provider_id": provider,
            "provider_type": "oauth2",
            "oauth2": {"scopes": scopes},
        },
        "user_id": user,
        **extra,
    }
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        response = await client.post(
            f"{engine.base_url}/v1/auth/authorize", headers=engine.headers, json=body
        )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def status(
    engine: Engine, auth_id: str, *, wait: int | None = None, extras: bool = False
) -> httpx.Response:
    """``GET /v1/auth/status``; with ``extras``, asking for valetkey's fields (``failure_reason``)."""
    params: dict[str, Any] = {"id": auth_id}
    if wait is not None:
        params["wait"] = wait
    headers = {**engine.headers, **({"Valetkey-Extras": "true"} if extras else {})}
    async with httpx.AsyncClient(trust_env=False, timeout=70) as client:
        return await client.get(f"{engine.base_url}/v1/auth/status", headers=headers, params=params)


async def approve(engine: Engine, url: str, *, login: str, approve: bool = True) -> httpx.Response:
    """Sign in and consent at the OAuth server, then let the browser follow the engine's answer."""
    return await consent_and_follow(url, login=login, approve=approve, callback_prefix=engine.redirect_uri)


async def callback_url(engine: Engine, url: str, *, login: str, approve: bool = True) -> httpx.URL:
    """Consent, but stop at the callback: the test decides when (and how often) to deliver it."""
    return await consent(url, login=login, approve=approve, stop_at_prefix=engine.redirect_uri)


async def deliver(url: httpx.URL | str, *, follow: bool = True) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as browser:
        return await browser.get(url, follow_redirects=follow)


def state_key(engine: Engine, state: str) -> str:
    """The Redis key a live state sits under (expiring it stands in for ten minutes passing)."""
    return f"{engine.env['VALETKEY_KEY_PREFIX']}:authz:state:{hashlib.sha256(state.encode()).hexdigest()}"

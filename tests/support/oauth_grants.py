"""Real grants from the test OAuth server (oidc-provider): log in and consent with the scripted
browser, exchange the code, and keep or check what the server answered.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.tokens.model import StoredToken
from tests.support.browser import consent
from tests.support.oauth_server import OAuthClient, OAuthServer

CALLBACK = "http://127.0.0.1:9/oauth/callback"  # never requested: the scripted browser stops before it


async def real_grant(
    server: OAuthServer, client: OAuthClient, *, login: str, redirect_uri: str = CALLBACK
) -> dict[str, Any]:
    """Log in and consent with the scripted browser, exchange the code: a real token response."""
    url = httpx.URL(
        server.authorize_endpoint,
        params={
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email",
            "state": "s",
        },
    )
    callback = await consent(url, login=login, stop_at_prefix=redirect_uri)
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(
            server.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": callback.params["code"],
                "redirect_uri": redirect_uri,
            },
            auth=(client.client_id, client.client_secret or ""),
        )
    response.raise_for_status()
    return dict(response.json())


def token_from(
    grant: dict[str, Any], *, expires_in: float | None = None, issued_ago: float = 0
) -> StoredToken:
    """A StoredToken from a real response; ``expires_in`` overrides the recorded expiry (e.g. expired)."""
    now = datetime.now(UTC)
    lifetime = grant["expires_in"] if expires_in is None else expires_in
    return StoredToken(
        access_token=grant["access_token"],
        refresh_token=grant.get("refresh_token"),
        issued_at=now - timedelta(seconds=issued_ago),
        expires_at=now + timedelta(seconds=lifetime),
        scopes=grant.get("scope", "").split(),
    )


async def userinfo_status(server: OAuthServer, access_token: str) -> int:
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.get(
            server.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}
        )
    return response.status_code

"""An MCP client on a gateway: the official ``mcp`` SDK's Streamable HTTP client, as users run it,
and the access token an MCP client gets for an ``auth: oauth`` gateway."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from mcp.client import Client
from mcp.client.session import ClientSession, ElicitationFnT
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.support.browser import consent
from tests.support.oauth_server import OAuthClient, OAuthServer


@asynccontextmanager
async def mcp_session(url: str, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    """An initialized session with ``headers`` on every request."""
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def url_opening_client(
    url: str, headers: dict[str, str], elicitation: ElicitationFnT
) -> AsyncIterator[Client]:
    """The SDK's high-level client (it speaks the 2026-07-28 protocol to a server that does, and
    retries a call the server answered ``input_required``), declaring elicitation, form and URL."""
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), elicitation_callback=elicitation) as client,
    ):
        yield client


async def mcp_access_token(server: OAuthServer, client: OAuthClient, resource: str, *, login: str) -> str:
    """What an MCP client does for ``auth: oauth``: the authorization code flow with PKCE and the
    gateway as the RFC 8707 ``resource``, the user signing in as ``login`` in the scripted browser."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = client.redirect_uris[0]
    params = {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": "openid mcp",
        "resource": resource,
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    authorize = httpx.URL(server.authorize_endpoint, params=params)
    callback = await consent(authorize, login=login, stop_at_prefix=redirect)
    form = {
        "grant_type": "authorization_code",
        "code": callback.params["code"],
        "redirect_uri": redirect,
        "code_verifier": verifier,
        "resource": resource,
    }
    auth = (client.client_id, client.client_secret or "")
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        answer = await http.post(server.token_endpoint, data=form, auth=auth)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])

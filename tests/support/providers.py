"""engine.yaml provider entries that point at the test OAuth server (oidc-provider)."""

from __future__ import annotations

from typing import Any

from tests.support.oauth_server import OAuthServer


def oidc_provider_entry(
    server: OAuthServer,
    *,
    id: str,
    client_id: str,
    client_secret: str | None,
    auth_method: str = "client_secret_basic",
    pkce: bool = False,
    user_info: bool = True,
    user_info_on_refresh: bool = False,
) -> dict[str, Any]:
    """A custom provider, written exactly as Arcade's OAuth 2.0 reference describes it."""
    token_params = {"grant_type": "authorization_code", "redirect_uri": "{{redirect_uri}}"}
    refresh_params = {"grant_type": "refresh_token", "refresh_token": "{{refresh_token}}"}
    if auth_method != "client_secret_basic":
        token_params |= {"client_id": "{{client_id}}"}
        refresh_params |= {"client_id": "{{client_id}}"}
        if client_secret is not None:
            token_params |= {"client_secret": "{{client_secret}}"}
            refresh_params |= {"client_secret": "{{client_secret}}"}
    method = "client_secret_basic" if auth_method == "client_secret_basic" else "none"
    oauth2: dict[str, Any] = {
        "scope_delimiter": " ",
        "pkce": {"enabled": pkce, "code_challenge_method": "S256"},
        "authorize_request": {
            "endpoint": server.authorize_endpoint,
            "params": {
                "response_type": "code",
                "client_id": "{{client_id}}",
                "redirect_uri": "{{redirect_uri}}",
                "scope": "{{scopes}} {{existing_scopes}}",
                "prompt": "consent",
            },
        },
        "token_request": {"endpoint": server.token_endpoint, "auth_method": method, "params": token_params},
        "refresh_token_request": {
            "endpoint": server.token_endpoint,
            "auth_method": method,
            "params": refresh_params,
        },
    }
    if user_info:
        oauth2["user_info_request"] = {
            "endpoint": server.userinfo_endpoint,
            "triggers": {"on_token_grant": True, "on_token_refresh": user_info_on_refresh},
        }
    entry: dict[str, Any] = {
        "id": id,
        "type": "oauth2",
        "description": f"test provider {id}",
        "enabled": True,
        "client_id": client_id,
        "oauth2": oauth2,
    }
    if client_secret is not None:
        entry["client_secret"] = client_secret
    return entry


def hooli_provider_entry(server: OAuthServer, *, client_id: str, client_secret: str) -> dict[str, Any]:
    """Seed 002's ``hooli`` provider at the test server; it always asks ``openid`` (userinfo needs it)."""
    entry = oidc_provider_entry(server, id="hooli", client_id=client_id, client_secret=client_secret)
    entry["oauth2"]["authorize_request"]["params"]["scope"] = "openid {{scopes}} {{existing_scopes}}"
    return entry

"""One OAuth server, one token endpoint fake and one engine for every module of this package.

Package-scoped, so the engine starts once however the flows are split into modules.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.support.engine import Engine, base_config, running_engine
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tests.support.token_endpoint import TokenEndpoint, shape_provider
from tools.launcher import embedded


@pytest.fixture(scope="package")
def port() -> int:
    return embedded.free_port()


@pytest.fixture(scope="package")
def oauth(tmp_path_factory: pytest.TempPathFactory, port: int) -> Iterator[OAuthServer]:
    redirect = [f"http://127.0.0.1:{port}/oauth/callback"]
    clients = [
        OAuthClient("basic-app", redirect, client_secret="basic-secret"),
        OAuthClient(
            "post-app", redirect, client_secret="post-secret", token_endpoint_auth_method="client_secret_post"
        ),
        OAuthClient("pkce-app", redirect, token_endpoint_auth_method="none", require_pkce=True),
    ]
    with start_oauth_server(tmp_path_factory.mktemp("oauth"), clients=clients) as server:
        yield server


@pytest.fixture(scope="package")
def shapes() -> Iterator[TokenEndpoint]:
    with TokenEndpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="package")
def engine(tmp_path_factory, nats_url, redis_url, oauth, shapes, port) -> Iterator[Engine]:
    config = base_config(port, secrets.token_urlsafe(32))
    config["auth"]["next_uri_origins"] = ["https://app.example"]
    config["auth"]["providers"] = [
        oidc_provider_entry(oauth, id="basic", client_id="basic-app", client_secret="basic-secret"),
        oidc_provider_entry(
            oauth,
            id="post",
            client_id="post-app",
            client_secret="post-secret",
            auth_method="client_secret_post",
        ),
        oidc_provider_entry(
            oauth, id="pkce", client_id="pkce-app", client_secret=None, auth_method="none", pkce=True
        ),
        {"provider_id": "google", "client_id": "google-client-id", "client_secret": "google-secret"},
        shape_provider(shapes, "/form", response_content_type="application/x-www-form-urlencoded"),
        shape_provider(
            shapes,
            "/nested",
            response_map={
                "access_token": "$.data.access_token",
                "refresh_token": "$.data.refresh_token",
                "expires_in": "$.data.expires_in",
                "scope": "$.data.scope",
            },
        ),
        shape_provider(shapes, "/array", response_map={"scope": "join($.scopes, ' ')"}),
        shape_provider(shapes, "/minimal"),
    ]
    with running_engine(
        tmp_path_factory.mktemp("engine"), nats_url=nats_url, redis_url=redis_url, config=config
    ) as e:
        yield e

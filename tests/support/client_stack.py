"""One engine for the client-compatibility tests: the ``hooli`` provider at the real OAuth server
(oidc-provider) and the in-process ``hooli`` toolkit, whose ReticulateSplines needs that provider.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.engine import Engine, base_config, running_engine
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.providers import hooli_provider_entry
from tools.launcher import embedded

HOOLI_TOOLKIT = "tests.support.toolkits.hooli"
# What seed 002 asks for; the provider adds ``openid`` so the token works at userinfo.
HOOLI_SCOPES = ["scope1", "scope2"]


@contextmanager
def hooli_engine(
    home: Path,
    *,
    nats_url: str,
    redis_url: str,
    tweak: Any = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[Engine, OAuthServer]]:
    """The OAuth server and the engine (verification ``unsafe_skip``), stopped on exit."""
    port = embedded.free_port()
    client = OAuthClient("valetkey-hooli", [f"http://127.0.0.1:{port}/oauth/callback"], client_secret="hs")
    (home / "oauth").mkdir(parents=True, exist_ok=True)
    with start_oauth_server(home / "oauth", clients=[client]) as oauth:
        config = base_config(port, secrets.token_urlsafe(32))
        config["auth"]["providers"] = [
            hooli_provider_entry(oauth, client_id=client.client_id, client_secret="hs")
        ]
        config["tools"] = {"toolkits": [HOOLI_TOOLKIT], "directors": []}
        if tweak is not None:
            tweak(config)
        with running_engine(
            home / "engine", nats_url=nats_url, redis_url=redis_url, config=config, extra_env=extra_env
        ) as engine:
            yield engine, oauth


def userinfo(oauth: OAuthServer, token: str) -> httpx.Response:
    """The provider's userinfo endpoint, called with ``token`` as a bearer token."""
    return httpx.get(oauth.userinfo_endpoint, headers={"Authorization": f"Bearer {token}"}, trust_env=False)

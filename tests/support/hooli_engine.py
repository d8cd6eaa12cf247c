"""The engine most end-to-end tests run: the ``hooli`` toolkit in process, authorized at the
real OAuth server (oidc-provider) through a custom provider ``hooli`` asking for ``openid``."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.support.engine import Engine, base_config, running_engine
from tests.support.oauth_server import OAuthClient, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tools.launcher import embedded


@contextlib.contextmanager
def running_hooli_engine(
    home: Path,
    *,
    nats_url: str,
    redis_url: str,
    client_name: str,
    configure: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[Engine]:
    """The engine and its OAuth server for the block; ``configure`` edits engine.yaml first.

    Args:
        home: The engine's and the OAuth server's folder.
        client_name: The OAuth client's id at the server (one per test module).
        configure: Called with the engine.yaml mapping before the engine starts.
    """
    port = embedded.free_port()
    client = OAuthClient(
        client_name, [f"http://127.0.0.1:{port}/oauth/callback"], client_secret=secrets.token_urlsafe(12)
    )
    with start_oauth_server(home, clients=[client]) as oauth:
        entry = oidc_provider_entry(
            oauth, id="hooli", client_id=client.client_id, client_secret=client.client_secret
        )
        entry["oauth2"]["authorize_request"]["params"]["scope"] = "openid {{scopes}} {{existing_scopes}}"
        config = base_config(port, secrets.token_urlsafe(32))
        config["auth"]["providers"] = [entry]
        config["tools"]["toolkits"] = ["tests.support.toolkits.hooli"]
        if configure is not None:
            configure(config)
        with running_engine(home, nats_url=nats_url, redis_url=redis_url, config=config) as engine:
            yield engine

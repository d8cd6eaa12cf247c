"""Providers as Arcade's docs write them, at hosts no test reaches: for tests that build
requests and parse answers without sending anything.

``hooli_entry`` is the custom provider of Arcade's OAuth 2.0 page (at ``hooli.example``);
``builtin`` resolves a catalog provider with made-up credentials. Providers at the real
test OAuth server are in ``tests/support/providers.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.providers.catalog import load_catalog, resolve
from shared.providers.models import Provider

NOW = datetime(2025, 1, 1, tzinfo=UTC)
REDIRECT = "http://localhost:9099/oauth/callback"


def hooli_entry(**oauth2_overrides: Any) -> dict[str, Any]:
    """The custom provider from Arcade's OAuth 2.0 page, with optional oauth2 overrides."""
    oauth2: dict[str, Any] = {
        "authorize_request": {
            "endpoint": "https://hooli.example/oauth/authorize",
            "params": {
                "response_type": "code",
                "client_id": "{{client_id}}",
                "redirect_uri": "{{redirect_uri}}",
                "scope": "{{scopes}} {{existing_scopes}}",
            },
        },
        "token_request": {
            "endpoint": "https://hooli.example/oauth/token",
            "params": {
                "grant_type": "authorization_code",
                "redirect_uri": "{{redirect_uri}}",
                "client_id": "{{client_id}}",
                "client_secret": "{{client_secret}}",
            },
        },
    }
    oauth2.update(oauth2_overrides)
    return {
        "id": "hooli",
        "type": "oauth2",
        "description": "Hooli OAuth 2.0 provider",
        "enabled": True,
        "client_id": "hooli-id",
        "client_secret": "hooli-secret",
        "oauth2": oauth2,
    }


def hooli(**oauth2_overrides: Any) -> Provider:
    return resolve(hooli_entry(**oauth2_overrides))


def example_variables(provider_id: str) -> dict[str, str]:
    """The catalog's example value of each variable a built-in's endpoints take."""
    entry = load_catalog().get(provider_id)
    return {name: variable.example for name, variable in entry.variables.items()} if entry else {}


def builtin(provider_id: str, **extra: Any) -> Provider:
    """A built-in with made-up credentials (and the example values of its variables)."""
    entry = {"provider_id": provider_id, "client_id": "cid", "client_secret": "csecret"}
    return resolve({**entry, "variables": example_variables(provider_id), **extra})

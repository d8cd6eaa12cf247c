"""Each catalog provider's token answer, in the shape its docs show (``token_responses/``), parses
into the token, its expiry, the refresh token and the granted scopes, and keeps no token in ``extra``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from shared.providers.catalog import load_catalog
from shared.providers.parsing import parse_token_response
from tests.support.provider_examples import NOW, builtin

SHAPES = Path(__file__).with_name("token_responses")
ACCESS, REFRESH = "at-example", "rt-example"


def _shape(provider_id: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((SHAPES / f"{provider_id}.yaml").read_text())
    return document


def test_every_catalog_provider_has_a_recorded_token_answer() -> None:
    assert {path.stem for path in SHAPES.glob("*.yaml")} == set(load_catalog().entries)


Kind = Literal["token", "refresh"]


def _check(provider_id: str, response: dict[str, Any], expect: dict[str, Any], kind: Kind) -> None:
    grant = parse_token_response(
        builtin(provider_id),
        kind=kind,
        status_code=200,
        content_type="application/json",
        body=json.dumps(response).encode(),
        now=NOW,
    )
    assert grant.access_token == ACCESS
    assert grant.refresh_token == (REFRESH if expect["refresh_token"] else None)
    if "expires_at" in expect:
        assert grant.expires_at == datetime.fromisoformat(expect["expires_at"])
    else:
        seconds = expect["expires_in"]
        assert grant.expires_at == (NOW + timedelta(seconds=seconds) if seconds else None)
    refresh_seconds = expect.get("refresh_expires_in")
    assert grant.refresh_expires_at == (NOW + timedelta(seconds=refresh_seconds) if refresh_seconds else None)
    assert grant.scopes == expect["scopes"]
    assert grant.token_type == expect.get("token_type", grant.token_type)
    assert ACCESS not in json.dumps(grant.extra) and REFRESH not in json.dumps(grant.extra)


@pytest.mark.parametrize("provider_id", sorted(load_catalog().entries))
def test_a_recorded_token_answer_parses_into_token_expiry_refresh_and_scopes(provider_id: str) -> None:
    shape = _shape(provider_id)
    _check(provider_id, shape["response"], shape["expect"], "token")


@pytest.mark.parametrize(
    "provider_id", sorted(p.stem for p in SHAPES.glob("*.yaml") if "refresh_response:" in p.read_text())
)
def test_a_recorded_refresh_answer_parses_into_token_expiry_refresh_and_scopes(provider_id: str) -> None:
    shape = _shape(provider_id)
    _check(provider_id, shape["refresh_response"], shape["refresh_expect"], "refresh")

"""Each of Arcade's 32 documented auth providers, from its page's recipe (``recipes/``), loads and
builds the authorize URL and token request the page describes.

A recipe is the ``auth.providers`` entry as the page writes it (``${env:...}`` included) plus
``expect``: what the requests must carry. The engine may add only what it always adds: PKCE's
challenge and verifier (valetkey turns PKCE on where a recipe leaves it unset,
docs/arcade-compatibility.md §2.1) and ``state``.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import yaml

from shared.providers.catalog import load_catalog, parse_entry
from shared.providers.models import Provider
from shared.providers.oauth import (
    HttpRequestSpec,
    build_authorize_url,
    build_refresh_request,
    build_token_request,
    code_challenge_s256,
)
from shared.providers.parsing import parse_token_response
from shared.providers.registry import static_records
from tests.support.provider_examples import NOW, REDIRECT

RECIPES = Path(__file__).with_name("recipes")
VERIFIER = "v" * 43
TOKENS = {
    "$redirect": REDIRECT,
    "$state": "st4te",
    "$code": "c0de",
    "$challenge": code_challenge_s256(VERIFIER),
    "$verifier": VERIFIER,
    "$refresh_token": "r3fresh",
}
#: What the engine adds on its own, beyond a recipe's params.
ENGINE_ADDS = {"authorize": {"state", "code_challenge", "code_challenge_method"}, "token": {"code_verifier"}}


def _env(match: re.Match[str]) -> str:
    # DUO_CLIENT_ID -> duo-client-id: a value the expectations can name.
    return match.group(1).lower().replace("_", "-")


def _load(path: Path) -> tuple[Provider, dict[str, Any]]:
    text = re.sub(r"\$\{env:([A-Z0-9_]+)\}", _env, path.read_text())
    document = yaml.safe_load(text)
    [raw] = document["auth"]["providers"]
    records = static_records([parse_entry(raw, file=path.name, key="auth.providers[0]")])
    [record] = records.values()
    return record.provider, document["expect"]


def _expected(values: dict[str, Any]) -> dict[str, str]:
    return {key: TOKENS.get(str(value), str(value)) for key, value in values.items()}


def _check_client_auth(spec: HttpRequestSpec, body: dict[str, Any], how: str, provider: Provider) -> None:
    header = spec.headers.get("Authorization")
    if how == "basic":
        raw = f"{provider.client_id}:{provider.secret}".encode()
        assert header == "Basic " + base64.b64encode(raw).decode()
        assert "client_secret" not in body
    else:
        assert header is None
        assert ("client_secret" in body) == (how == "body")


def _check_request(spec: HttpRequestSpec, expect: dict[str, Any], provider: Provider, kind: str) -> None:
    assert spec.url == expect["endpoint"]
    body: dict[str, Any] = spec.json if "json" in expect else (spec.form or {})
    wanted = _expected(expect.get("json") or expect.get("form") or {})
    assert {key: body.get(key) for key in wanted} == wanted
    assert set(body) - set(wanted) <= ENGINE_ADDS.get(kind, set())
    _check_client_auth(spec, body, expect["client_auth"], provider)


def _recipes() -> list[Path]:
    return sorted(RECIPES.glob("*.yaml"))


def test_every_provider_arcade_documents_has_its_recipe_here_and_is_built_in() -> None:
    # The 32 pages under docs.arcade.dev/en/references/auth-providers/ (besides the generic OAuth 2.0 one).
    assert len(_recipes()) == 32
    assert {path.stem for path in _recipes()} <= set(load_catalog().entries)


@pytest.mark.parametrize("path", _recipes(), ids=lambda path: path.stem)
def test_a_documented_recipe_loads_and_builds_the_authorize_url_it_describes(path: Path) -> None:
    provider, expect = _load(path)
    url = build_authorize_url(
        provider,
        redirect_uri=REDIRECT,
        scopes=["s1", "s2"],
        existing_scopes=[],
        state="st4te",
        code_challenge=code_challenge_s256(VERIFIER),
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == expect["authorize"]["endpoint"]
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert all(len(values) == 1 for values in parse_qs(parts.query).values())
    wanted = _expected(expect["authorize"]["params"])
    assert {key: query.get(key) for key in wanted} == wanted
    assert set(query) - set(wanted) <= ENGINE_ADDS["authorize"]
    assert query["state"] == "st4te"


@pytest.mark.parametrize("path", _recipes(), ids=lambda path: path.stem)
def test_a_documented_recipe_builds_the_token_request_it_describes(path: Path) -> None:
    provider, expect = _load(path)
    spec = build_token_request(provider, code="c0de", redirect_uri=REDIRECT, code_verifier=VERIFIER)
    _check_request(spec, expect["token"], provider, "token")


@pytest.mark.parametrize(
    "path", [p for p in _recipes() if "refresh:" in p.read_text()], ids=lambda path: path.stem
)
def test_a_documented_refresh_request_is_built_as_described(path: Path) -> None:
    provider, expect = _load(path)
    spec = build_refresh_request(provider, refresh_token="r3fresh")
    assert spec is not None
    _check_request(spec, expect["refresh"], provider, "refresh")


@pytest.mark.parametrize(
    "path", [p for p in _recipes() if "oauth2:" in p.read_text()], ids=lambda path: path.stem
)
def test_a_documented_custom_recipe_reads_a_standard_token_answer(path: Path) -> None:
    # TickTick's recipe says the answer is form-encoded; TickTick answers JSON. Both read.
    provider, _ = _load(path)
    answer = {"access_token": "at", "token_type": "bearer", "expires_in": 3600, "refresh_token": "rt"}
    for content_type, body in (
        ("application/json", json.dumps({**answer, "scope": "s1 s2"})),
        ("application/x-www-form-urlencoded", urlencode({**answer, "scope": "s1 s2"})),
    ):
        grant = parse_token_response(
            provider, kind="token", status_code=200, content_type=content_type, body=body.encode(), now=NOW
        )
        assert (grant.access_token, grant.refresh_token) == ("at", "rt")
        assert grant.expires_at == NOW + timedelta(seconds=3600)
        assert grant.scopes == ["s1", "s2"]

"""Arcade's ``{{...}}`` placeholders: each one accepted where it has a value, with Arcade's meaning."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.errors import ConfigError
from shared.providers.catalog import resolve
from shared.providers.oauth import (
    build_authorize_url,
    build_refresh_request,
    build_revocation_request,
    build_token_request,
    build_user_info_request,
    code_challenge_s256,
)
from shared.providers.placeholders import AVAILABLE, PLACEHOLDERS
from tests.support.provider_examples import REDIRECT, hooli, hooli_entry

VERIFIER = "v" * 43


def _authorize_query(**authorize_params: str) -> dict[str, list[str]]:
    provider = hooli(
        authorize_request={"endpoint": "https://hooli.example/oauth/authorize", "params": authorize_params}
    )
    url = build_authorize_url(
        provider,
        redirect_uri=REDIRECT,
        scopes=["read", "write"],
        existing_scopes=["profile"],
        state="st4te",
        code_challenge=code_challenge_s256(VERIFIER),
    )
    return parse_qs(urlsplit(url).query)


def _token_form(**token_params: str) -> dict[str, str]:
    provider = hooli(token_request={"endpoint": "https://hooli.example/oauth/token", "params": token_params})
    spec = build_token_request(provider, code="c0de", redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert spec.form is not None
    return spec.form


def test_arcade_documents_nine_placeholders_and_all_of_them_are_known() -> None:
    assert {
        "client_id",
        "client_secret",
        "redirect_uri",
        "scopes",
        "existing_scopes",
        "state",
        "code",
        "refresh_token",
        "access_token",
    } == PLACEHOLDERS


def test_state_in_the_authorize_params_is_the_flows_state_and_sent_once() -> None:
    query = _authorize_query(response_type="code", client_id="{{client_id}}", state="{{state}}")
    assert query["state"] == ["st4te"]


def test_state_under_another_name_carries_the_same_value() -> None:
    query = _authorize_query(client_id="{{client_id}}", relay="{{state}}")
    assert query["relay"] == ["st4te"]
    assert query["state"] == ["st4te"]


def test_the_authorize_placeholders_render_client_redirect_and_both_scope_lists() -> None:
    query = _authorize_query(
        client_id="{{client_id}}", redirect_uri="{{redirect_uri}}", scope="{{scopes}} {{existing_scopes}}"
    )
    assert query["client_id"] == ["hooli-id"]
    assert query["redirect_uri"] == [REDIRECT]
    assert query["scope"] == ["read write profile"]


def test_code_in_the_token_params_is_the_callbacks_code_and_sent_once() -> None:
    form = _token_form(grant_type="authorization_code", code="{{code}}", redirect_uri="{{redirect_uri}}")
    assert form["code"] == "c0de"
    assert form["redirect_uri"] == REDIRECT


def test_code_under_another_name_carries_the_same_value() -> None:
    assert _token_form(authorization_code="{{code}}")["authorization_code"] == "c0de"


def test_the_token_placeholders_render_the_client_credentials() -> None:
    form = _token_form(client_id="{{client_id}}", client_secret="{{client_secret}}")
    assert (form["client_id"], form["client_secret"]) == ("hooli-id", "hooli-secret")


def test_refresh_renders_the_refresh_token_and_the_access_token() -> None:
    provider = hooli(
        refresh_token_request={
            "endpoint": "https://hooli.example/oauth/token",
            "params": {"grant_type": "refresh_token", "rt": "{{refresh_token}}", "at": "{{access_token}}"},
        }
    )
    spec = build_refresh_request(provider, refresh_token="r1", access_token="a1")
    assert spec is not None and spec.form is not None
    assert (spec.form["rt"], spec.form["at"]) == ("r1", "a1")


def test_user_info_renders_the_access_token_in_a_header() -> None:
    provider = hooli(
        user_info_request={"endpoint": "https://hooli.example/me", "headers": {"X-Token": "{{access_token}}"}}
    )
    spec = build_user_info_request(provider, "a1")
    assert spec is not None
    assert spec.headers["X-Token"] == "a1"


def test_revocation_renders_the_client_id() -> None:
    revoke = {"endpoint": "https://hooli.example/revoke", "params": {"app": "{{client_id}}"}}
    provider = hooli(token_revocation_request=revoke)
    spec = build_revocation_request(provider, "a1")
    assert spec is not None and spec.form is not None
    assert spec.form["app"] == "hooli-id"


@pytest.mark.parametrize(
    ("request_name", "placeholder"),
    [
        ("authorize_request", "code"),
        ("authorize_request", "client_secret"),  # would put the secret in the user's browser
        ("token_request", "state"),
        ("token_request", "refresh_token"),
        ("refresh_token_request", "code"),
        ("user_info_request", "refresh_token"),
    ],
)
def test_a_placeholder_written_where_it_has_no_value_is_refused_at_load(
    request_name: str, placeholder: str
) -> None:
    block: dict[str, Any] = {"endpoint": "https://hooli.example/x", "params": {"p": f"{{{{{placeholder}}}}}"}}
    with pytest.raises(ConfigError) as caught:
        resolve(hooli_entry(**{request_name: block}))
    assert f"{request_name}.p: {{{{{placeholder}}}}} has no value here" in str(caught.value)


def test_an_unknown_placeholder_is_refused_with_the_known_ones_listed() -> None:
    block = {"endpoint": "https://hooli.example/oauth/token", "params": {"code": "{{auth_code}}"}}
    with pytest.raises(ConfigError) as caught:
        resolve(hooli_entry(token_request=block))
    assert "unknown placeholder {{auth_code}}" in str(caught.value)
    assert "state" in str(caught.value)


def test_every_request_block_has_its_placeholders_listed() -> None:
    assert set(AVAILABLE) == {
        "authorize_request",
        "token_request",
        "refresh_token_request",
        "user_info_request",
        "token_introspection_request",
        "token_revocation_request",
    }


def test_pkce_written_as_a_bare_boolean_turns_it_on_or_off() -> None:
    entry = hooli_entry()
    assert resolve({**entry, "pkce": False}).oauth2.pkce.enabled is False
    entry["oauth2"]["pkce"] = True
    assert resolve(entry).oauth2.pkce.enabled is True

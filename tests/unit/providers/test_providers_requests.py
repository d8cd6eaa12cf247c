"""Pure request builders: authorize URL, code exchange, refresh, user info, PKCE."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.errors import BadRequest
from shared.providers.models import Provider
from shared.providers.oauth import (
    build_authorize_url,
    build_refresh_request,
    build_token_request,
    build_user_info_request,
    code_challenge_s256,
    new_code_verifier,
    new_state,
)
from tests.support.provider_examples import REDIRECT, builtin, hooli

# PKCE is on for custom providers and most of the catalog: builders get a verifier and
# its challenge unless a test is about their absence.
VERIFIER = "v" * 43
CHALLENGE = code_challenge_s256(VERIFIER)


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def authorize(
    provider: Provider,
    scopes: Sequence[str] = ("a",),
    existing: Sequence[str] = (),
    challenge: str | None = CHALLENGE,
) -> dict[str, str]:
    url = build_authorize_url(
        provider,
        redirect_uri=REDIRECT,
        scopes=list(scopes),
        existing_scopes=list(existing),
        state="st4te",
        code_challenge=challenge,
    )
    return query(url)


def test_google_enabled_by_id_alone_builds_the_right_authorization_url() -> None:
    url = build_authorize_url(
        builtin("google"),
        redirect_uri=REDIRECT,
        scopes=["openid", "email"],
        existing_scopes=[],
        state="st4te",
        code_challenge=CHALLENGE,
    )
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert query(url) == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": "st4te",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    assert "scope=openid%20email" in url


def test_existing_scopes_are_merged_without_duplicates_or_stray_delimiters() -> None:
    assert authorize(hooli(), scopes=["a", "b"], existing=["b", "c"])["scope"] == "a b c"
    assert authorize(hooli(), scopes=["a"], existing=[])["scope"] == "a"


def test_a_param_that_renders_empty_is_dropped() -> None:
    assert "scope" not in authorize(hooli(), scopes=[], existing=[])


def test_comma_delimited_scopes_use_the_configured_delimiter() -> None:
    params = authorize(builtin("slack"), scopes=["chat:write", "users:read"], existing=["chat:write"])
    assert params["user_scope"] == "chat:write,users:read"
    assert "scope" not in params


def test_extra_scopes_quirk_adds_offline_access_for_microsoft() -> None:
    assert authorize(builtin("microsoft"), scopes=["User.Read"])["scope"] == "User.Read offline_access"


def test_builtin_quirk_params_are_sent() -> None:
    assert authorize(builtin("dropbox"))["token_access_type"] == "offline"
    assert authorize(builtin("reddit"))["duration"] == "permanent"
    atlassian = authorize(builtin("atlassian"))
    assert (atlassian["audience"], atlassian["prompt"]) == ("api.atlassian.com", "consent")
    assert authorize(builtin("notion"))["owner"] == "user"


def test_every_placeholder_renders_in_params() -> None:
    token_params = {
        "endpoint": "https://hooli.example/token",
        "params": {"a": "{{client_id}}", "b": "{{client_secret}}", "c": "{{redirect_uri}}"},
    }
    refresh_params = {
        "endpoint": "https://hooli.example/token",
        "params": {"r": "{{refresh_token}}", "t": "{{access_token}}", "i": "{{ client_id }}"},
    }
    provider = hooli(token_request=token_params, refresh_token_request=refresh_params)
    form = build_token_request(provider, code="c0de", redirect_uri=REDIRECT, code_verifier=VERIFIER).form
    assert form is not None
    assert (form["a"], form["b"], form["c"], form["code"]) == ("hooli-id", "hooli-secret", REDIRECT, "c0de")
    refresh = build_refresh_request(provider, refresh_token="rt", access_token="at")
    assert refresh is not None
    assert refresh.form is not None
    assert (refresh.form["r"], refresh.form["t"], refresh.form["i"]) == ("rt", "at", "hooli-id")


def test_pkce_adds_challenge_to_the_url_and_verifier_to_the_exchange() -> None:
    provider = builtin("x")
    verifier = new_code_verifier()
    params = authorize(provider, challenge=code_challenge_s256(verifier))
    assert params["code_challenge"] == code_challenge_s256(verifier)
    assert params["code_challenge_method"] == "S256"
    spec = build_token_request(provider, code="c", redirect_uri=REDIRECT, code_verifier=verifier)
    assert spec.form is not None
    assert spec.form["code_verifier"] == verifier


def test_pkce_without_a_challenge_or_verifier_is_refused() -> None:
    with pytest.raises(BadRequest):
        authorize(builtin("airtable"), challenge=None)
    with pytest.raises(BadRequest):
        build_token_request(builtin("figma"), code="c", redirect_uri=REDIRECT, code_verifier=None)


def test_no_pkce_params_when_pkce_is_off() -> None:
    assert "code_challenge" not in authorize(hooli(pkce={"enabled": False}), challenge="ignored")
    assert "code_challenge" not in authorize(builtin("slack"), challenge="ignored")


def test_a_custom_provider_and_googles_github_and_microsofts_entries_use_pkce_by_default() -> None:
    for provider in (hooli(), builtin("google"), builtin("github"), builtin("microsoft")):
        params = authorize(provider)
        assert (params["code_challenge"], params["code_challenge_method"]) == (CHALLENGE, "S256")
        form = build_token_request(provider, code="c", redirect_uri=REDIRECT, code_verifier=VERIFIER).form
        assert form["code_verifier"] == VERIFIER


def test_code_verifier_and_challenge_follow_rfc_7636() -> None:
    verifier = new_code_verifier()
    assert 43 <= len(verifier) <= 128
    assert re.fullmatch(r"[A-Za-z0-9\-._~]+", verifier)
    rfc_verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge_s256(rfc_verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert new_state() != new_state()


def test_client_secret_basic_moves_credentials_out_of_the_body() -> None:
    provider = hooli(
        token_request={
            "endpoint": "https://hooli.example/token",
            "auth_method": "client_secret_basic",
            "params": {
                "grant_type": "authorization_code",
                "client_id": "{{client_id}}",
                "client_secret": "{{client_secret}}",
            },
        }
    )
    provider = provider.model_copy(update={"client_id": "id with:colon"})
    spec = build_token_request(provider, code="c", redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert spec.form == {"grant_type": "authorization_code", "code": "c", "code_verifier": VERIFIER}
    raw = base64.b64decode(spec.headers["Authorization"].removeprefix("Basic ")).decode()
    assert raw == "id+with%3Acolon:hooli-secret"


def test_client_secret_post_puts_credentials_in_the_body() -> None:
    provider = hooli(
        token_request={"endpoint": "https://hooli.example/token", "auth_method": "client_secret_post"}
    )
    spec = build_token_request(provider, code="c", redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert spec.form is not None
    assert (spec.form["client_id"], spec.form["client_secret"]) == ("hooli-id", "hooli-secret")
    assert "Authorization" not in spec.headers


def test_notion_exchange_is_json_with_basic_auth() -> None:
    spec = build_token_request(builtin("notion"), code="c", redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert spec.form is None
    assert spec.json == {"grant_type": "authorization_code", "redirect_uri": REDIRECT, "code": "c"}
    assert spec.headers["Authorization"].startswith("Basic ")


def test_github_exchange_asks_for_json() -> None:
    spec = build_token_request(builtin("github"), code="c", redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert spec.headers["Accept"] == "application/json"


def test_default_refresh_adds_refresh_token_and_client_credentials() -> None:
    spec = build_refresh_request(hooli(), refresh_token="rt")
    assert spec is not None
    assert spec.form == {
        "grant_type": "refresh_token",
        "refresh_token": "rt",
        "client_id": "hooli-id",
        "client_secret": "hooli-secret",
    }


def test_the_documented_refresh_params_get_the_refresh_token_added() -> None:
    block = {
        "endpoint": "https://hooli.example/token",
        "params": {"grant_type": "refresh_token", "client_id": "{{client_id}}"},
    }
    spec = build_refresh_request(hooli(refresh_token_request=block), refresh_token="rt")
    assert spec is not None
    assert spec.form == {"grant_type": "refresh_token", "client_id": "hooli-id", "refresh_token": "rt"}


def test_refresh_with_bearer_access_token_authenticates_with_the_access_token() -> None:
    block = {"endpoint": "https://hooli.example/refresh", "auth_method": "bearer_access_token"}
    spec = build_refresh_request(hooli(refresh_token_request=block), refresh_token=None, access_token="at")
    assert spec is not None
    assert spec.headers["Authorization"] == "Bearer at"


def test_refresh_is_impossible_without_a_refresh_token_or_refresh_config() -> None:
    assert build_refresh_request(hooli(), refresh_token=None) is None
    assert build_refresh_request(builtin("clickup"), refresh_token="rt") is None


def test_user_info_is_a_bearer_get_with_rendered_headers() -> None:
    spec = build_user_info_request(builtin("twitch"), "at")
    assert spec is not None
    assert (spec.method, spec.url) == ("GET", "https://api.twitch.tv/helix/users")
    assert spec.headers["Authorization"] == "Bearer at"
    assert spec.headers["Client-Id"] == "cid"
    assert spec.form is None


def test_auth_header_value_format_overrides_the_bearer_prefix() -> None:
    spec = build_user_info_request(builtin("clickup"), "at")
    assert spec is not None
    assert spec.headers["Authorization"] == "at"


def test_a_post_without_params_sends_no_body() -> None:
    spec = build_user_info_request(builtin("dropbox"), "at")
    assert spec is not None
    assert (spec.method, spec.form, spec.json) == ("POST", None, None)


def test_request_specs_do_not_show_secrets_in_repr() -> None:
    spec = build_token_request(builtin("zoom"), code="c0de", redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert "csecret" not in repr(spec)
    assert "Authorization" not in repr(spec)


def test_a_configured_accept_header_replaces_the_default_whatever_its_case() -> None:
    block = {"endpoint": "https://hooli.example/me", "headers": {"accept": "application/xml"}}
    spec = build_user_info_request(hooli(user_info_request=block), "at")
    assert spec is not None
    assert spec.headers == {"accept": "application/xml", "Authorization": "Bearer at"}

"""Token, refresh and user-info response parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from shared.errors import InvalidGrant, ProviderError, ProviderUnavailable
from shared.providers.models import Provider, TokenGrant
from shared.providers.oauth import parse_token_response, parse_user_info
from tests.support.provider_examples import NOW, builtin, hooli

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
Kind = Literal["token", "refresh"]


def parse(
    provider: Provider, body: Any, *, status: int = 200, content_type: str = JSON, kind: Kind = "token"
) -> TokenGrant:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_token_response(
        provider,
        kind=kind,
        status_code=status,
        content_type=content_type,
        body=raw,
        now=NOW,
    )


def test_a_standard_json_response_is_parsed() -> None:
    body = {
        "access_token": "AT-1",
        "refresh_token": "RT-1",
        "expires_in": 3600,
        "scope": "a b",
        "token_type": "bearer",
    }
    grant = parse(hooli(), body)
    assert (grant.access_token, grant.refresh_token, grant.token_type) == ("AT-1", "RT-1", "bearer")
    assert grant.expires_at == NOW + timedelta(hours=1)
    assert grant.scopes == ["a", "b"]
    assert "AT-1" not in repr(grant)
    assert "RT-1" not in repr(grant)


def test_a_form_encoded_response_is_parsed() -> None:
    grant = parse(
        builtin("github"), b"access_token=gho_x&scope=repo%2Cgist&token_type=bearer", content_type=FORM
    )
    assert grant.access_token == "gho_x"
    assert grant.scopes == ["repo", "gist"]


def test_a_form_body_with_a_wrong_content_type_is_sniffed() -> None:
    grant = parse(hooli(), b"access_token=at&expires_in=60", content_type="text/plain")
    assert grant.expires_at == NOW + timedelta(seconds=60)


def test_missing_expires_in_means_no_expiry() -> None:
    assert parse(builtin("github"), {"access_token": "at"}).expires_at is None


def test_expires_in_as_a_string_is_tolerated() -> None:
    assert parse(hooli(), {"access_token": "at", "expires_in": "120"}).expires_at == NOW + timedelta(
        minutes=2
    )


def test_an_absolute_expires_at_is_used_as_is() -> None:
    grant = parse(hooli(), {"access_token": "at", "expires_at": 1735693200})
    assert grant.expires_at == datetime(2025, 1, 1, 1, tzinfo=UTC)


def test_absolute_unix_timestamp_expiration_format_reads_expires_in_as_a_time() -> None:
    block = {"endpoint": "https://hooli.example/token", "expiration_format": "absolute_unix_timestamp"}
    grant = parse(hooli(token_request=block), {"access_token": "at", "expires_in": 1735693200})
    assert grant.expires_at == datetime(2025, 1, 1, 1, tzinfo=UTC)


def test_nested_json_is_mapped_with_jsonpath() -> None:
    response_map = {
        "access_token": "$.data.access_token",
        "expires_in": "$.data.expires_in",
        "refresh_token": "$.data.refresh_token",
        "scope": "$.data.scope",
    }
    provider = hooli(token_request={"endpoint": "https://hooli.example/token", "response_map": response_map})
    body = {"data": {"access_token": "at", "expires_in": 3600, "refresh_token": "rt", "scope": "s1 s2"}}
    grant = parse(provider, body)
    assert (grant.access_token, grant.refresh_token, grant.scopes) == ("at", "rt", ["s1", "s2"])
    assert grant.extra == {"data": {"expires_in": 3600, "scope": "s1 s2"}}


def test_scopes_as_an_array_are_joined_with_join() -> None:
    grant = parse(
        builtin("twitch"), {"access_token": "at", "expires_in": 10, "scope": ["chat:read", "user:read:email"]}
    )
    assert grant.scopes == ["chat:read", "user:read:email"]


def test_scopes_as_an_array_are_accepted_without_a_map() -> None:
    assert parse(hooli(), {"access_token": "at", "scope": ["a", "b"]}).scopes == ["a", "b"]


def test_slack_user_token_is_read_from_authed_user() -> None:
    body = {
        "ok": True,
        "access_token": "xoxb-bot",
        "team": {"id": "T1", "name": "Acme"},
        "authed_user": {
            "id": "U1",
            "scope": "chat:write,users:read",
            "access_token": "xoxp-user",
            "token_type": "user",
        },
    }
    grant = parse(builtin("slack"), body)
    assert grant.access_token == "xoxp-user"
    assert grant.scopes == ["chat:write", "users:read"]
    assert grant.token_type == "user"
    assert grant.extra["team"] == {"id": "T1", "name": "Acme"}
    assert "xoxp-user" not in json.dumps(grant.extra)
    assert "xoxb-bot" not in json.dumps(grant.extra)


def test_slack_refresh_reads_the_top_level_token() -> None:
    body = {"ok": True, "access_token": "xoxe.xoxp-new", "refresh_token": "xoxe-1-r", "expires_in": 43200}
    grant = parse(builtin("slack"), body, kind="refresh")
    assert (grant.access_token, grant.refresh_token) == ("xoxe.xoxp-new", "xoxe-1-r")


def test_extra_keeps_non_secret_fields_like_instance_url() -> None:
    body = {
        "access_token": "at",
        "instance_url": "https://acme.my.salesforce.com",
        "id_token": "x.y.z",
        "refresh_token_expires_in": 60,
    }
    grant = parse(hooli(), body)
    assert grant.extra == {"instance_url": "https://acme.my.salesforce.com", "refresh_token_expires_in": 60}
    assert grant.id_token == "x.y.z"
    assert grant.refresh_expires_at == NOW + timedelta(seconds=60)


def test_github_error_in_a_200_is_an_invalid_grant() -> None:
    body = b"error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired."
    with pytest.raises(InvalidGrant) as caught:
        parse(builtin("github"), body, content_type=FORM)
    assert caught.value.details["provider_error"] == "bad_verification_code"


def test_invalid_grant_raises_invalid_grant() -> None:
    with pytest.raises(InvalidGrant):
        parse(
            builtin("google"),
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
            status=400,
        )


def test_other_oauth_errors_are_provider_errors_with_the_code() -> None:
    with pytest.raises(ProviderError) as caught:
        parse(hooli(), {"error": "invalid_client"}, status=401)
    assert not isinstance(caught.value, InvalidGrant)
    assert caught.value.details["provider_error"] == "invalid_client"


def test_a_503_is_retryable_and_keeps_retry_after() -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        parse_token_response(
            hooli(),
            kind="refresh",
            status_code=503,
            content_type="text/html",
            body=b"<html>",
            now=NOW,
            retry_after=30,
        )
    assert caught.value.retryable
    assert caught.value.details["retry_after"] == 30


def test_a_429_is_retryable() -> None:
    with pytest.raises(ProviderUnavailable):
        parse(hooli(), {"error": "rate_limited"}, status=429)


def test_an_unparseable_body_is_a_provider_error() -> None:
    with pytest.raises(ProviderError):
        parse(hooli(), b"<html>oops</html>", content_type="text/html")


def test_a_response_without_access_token_is_a_provider_error_without_values() -> None:
    with pytest.raises(ProviderError) as caught:
        parse(hooli(), {"refresh_token": "secret-rt"})
    assert "secret-rt" not in str(caught.value.to_payload())


def test_user_info_returns_the_whole_document_without_tokens() -> None:
    info = parse_user_info(
        builtin("google"), 200, json.dumps({"sub": "1", "email": "a@b.c", "access_token": "x"}).encode()
    )
    assert info == {"sub": "1", "email": "a@b.c"}


def test_user_info_applies_its_response_map() -> None:
    block = {"endpoint": "https://hooli.example/me", "response_map": {"sub": "$.user.id"}}
    assert parse_user_info(hooli(user_info_request=block), 200, b'{"user": {"id": 7}}') == {"sub": 7}


def test_token_like_keys_a_response_map_brings_in_are_scrubbed_after_it_in_any_spelling() -> None:
    block = {"endpoint": "https://hooli.example/me", "response_map": {"sub": "$.id", "creds": "$.creds"}}
    answer = {"id": 7, "creds": {"accessToken": "at", "idToken": "it", "clientSecret": "cs", "name": "n"}}
    info = parse_user_info(hooli(user_info_request=block), 200, json.dumps(answer).encode())
    assert info == {"sub": 7, "creds": {"name": "n"}}


def test_user_info_errors_are_mapped() -> None:
    with pytest.raises(ProviderUnavailable):
        parse_user_info(builtin("google"), 502, b"")
    with pytest.raises(ProviderError):
        parse_user_info(builtin("slack"), 200, b'{"ok": false, "error": "invalid_auth"}')


def test_json_mislabelled_as_form_is_still_read_as_json() -> None:
    assert parse(hooli(), {"access_token": "at"}, content_type=FORM).access_token == "at"

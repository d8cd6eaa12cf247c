"""Parsing engine.yaml provider entries: Arcade's format, strict about typos."""

from __future__ import annotations

import pytest
import yaml

from shared.errors import ConfigError
from shared.providers.catalog import parse_entry, resolve
from shared.providers.models import OAuth2Config, RequestConfig
from tests.support.provider_examples import hooli, hooli_entry


def test_the_arcade_docs_example_parses_with_its_defaults() -> None:
    provider = hooli()
    assert provider.oauth2.scope_delimiter == " "
    assert provider.oauth2.pkce.enabled  # on unless the entry says enabled: false (RFC 9700)
    token = provider.oauth2.token_request
    assert (token.method, token.auth_method) == ("POST", "none")
    assert token.request_content_type == "application/x-www-form-urlencoded"
    assert token.response_content_type == "application/json"


def test_a_typo_in_a_request_block_is_rejected_with_the_key_named() -> None:
    entry = hooli_entry(token_request={"endpoint": "https://h.example/t", "parms": {}})
    with pytest.raises(ConfigError) as caught:
        parse_entry(entry, file="engine.yaml", key="auth.providers[0]")
    assert caught.value.key == "auth.providers[0].oauth2.token_request.parms"
    assert "engine.yaml" in str(caught.value)
    assert "unknown key" in str(caught.value)


def test_a_typo_in_the_oauth2_block_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"oauth2\.token_requst"):
        parse_entry(hooli_entry(token_requst={"endpoint": "https://h.example/t"}))


def test_errors_never_echo_config_values() -> None:
    entry = hooli_entry()
    entry["enabled"] = "super-secret-value"
    with pytest.raises(ConfigError) as caught:
        parse_entry(entry)
    assert "super-secret-value" not in str(caught.value)


def test_refresh_request_is_accepted_as_an_alias_of_refresh_token_request() -> None:
    provider = hooli(
        refresh_request={"endpoint": "https://hooli.example/refresh", "auth_method": "client_secret_basic"}
    )
    refresh = provider.oauth2.refresh_token_request
    assert refresh is not None
    assert refresh.endpoint == "https://hooli.example/refresh"


def test_both_refresh_spellings_at_once_are_rejected() -> None:
    block = {"endpoint": "https://hooli.example/refresh"}
    with pytest.raises(ConfigError, match="not both"):
        parse_entry(hooli_entry(refresh_request=block, refresh_token_request=block))


def test_doc_variants_use_pkce_and_pkce_code_challenge_method_are_tolerated() -> None:
    config = OAuth2Config.model_validate({"use_pkce": True, "pkce_code_challenge_method": "s256"})
    assert config.pkce.enabled
    assert config.pkce.code_challenge_method == "S256"
    request = RequestConfig.model_validate(
        {"endpoint": "https://x.example", "use_pkce": True, "auth_method": "use_pkce"}
    )
    assert request.auth_method == "none"


def test_pkce_plain_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"pkce\.code_challenge_method"):
        parse_entry(hooli_entry(pkce={"enabled": True, "code_challenge_method": "plain"}))


def test_empty_auth_method_means_none_and_short_content_types_are_accepted() -> None:
    request = RequestConfig.model_validate(
        {"endpoint": "https://x.example", "auth_method": "", "request_content_type": "json", "method": "get"}
    )
    assert (request.auth_method, request.request_content_type, request.method) == (
        "none",
        "application/json",
        "GET",
    )


def test_yaml_scalars_in_params_become_strings() -> None:
    request = RequestConfig.model_validate({"params": {"include_granted_scopes": True, "max_age": 3600}})
    assert request.params == {"include_granted_scopes": "true", "max_age": "3600"}


def test_an_unknown_placeholder_is_rejected() -> None:
    entry = hooli_entry(
        token_request={"endpoint": "https://h.example/t", "params": {"x": "{{client_secrt}}"}}
    )
    with pytest.raises(ConfigError, match="client_secrt"):
        parse_entry(entry)


def test_a_malformed_response_map_expression_is_rejected() -> None:
    entry = hooli_entry(
        token_request={"endpoint": "https://h.example/t", "response_map": {"scope": "join('$.scope'"}}
    )
    with pytest.raises(ConfigError, match="response_map"):
        parse_entry(entry)


def test_user_info_and_introspection_blocks_keep_their_extra_fields() -> None:
    provider = hooli(
        user_info_request={"endpoint": "https://hooli.example/me", "triggers": {"on_token_refresh": True}},
        token_introspection_request={
            "endpoint": "https://hooli.example/introspect",
            "enabled": True,
            "expiration_format": "absolute_unix_timestamp",
            "triggers": {"on_token_grant": True, "on_token_refresh": False},
        },
    )
    user_info = provider.oauth2.user_info_request
    assert user_info is not None
    assert (user_info.method, user_info.auth_method) == ("GET", "bearer_access_token")
    assert user_info.triggers.on_token_refresh
    introspection = provider.oauth2.token_introspection_request
    assert introspection is not None
    assert introspection.expiration_format == "absolute_unix_timestamp"


def test_client_credentials_nested_in_oauth2_like_the_admin_api_are_accepted() -> None:
    entry = hooli_entry()
    entry["oauth2"]["client_id"] = entry.pop("client_id")
    entry["oauth2"]["client_secret"] = entry.pop("client_secret")
    provider = resolve(entry)
    assert provider.client_id == "hooli-id"
    assert provider.secret == "hooli-secret"
    assert "hooli-secret" not in repr(provider)


def test_an_entry_needs_an_id_or_a_provider_id() -> None:
    with pytest.raises(ConfigError, match="id is required"):
        parse_entry({"client_id": "x", "oauth2": {}})


FULL_CUSTOM_PROVIDER = """
id: hooli
type: oauth2
description: "Hooli OAuth 2.0 provider"
enabled: true
client_id: hooli-id
client_secret: hooli-secret
oauth2:
  scope_delimiter: ","
  pkce:
    enabled: true
    code_challenge_method: S256
  authorize_request:
    endpoint: "https://hooli.example/oauth/authorize"
    params:
      response_type: "code"
      client_id: "{{client_id}}"
      redirect_uri: "{{redirect_uri}}"
      scope: "{{scopes}} {{existing_scopes}}"
      prompt: "consent"
      access_type: "offline"
  token_request:
    endpoint: "https://hooli.example/oauth/token"
    auth_method: client_secret_basic
    params:
      grant_type: "authorization_code"
      redirect_uri: "{{redirect_uri}}"
      client_id: "{{client_id}}"
      client_secret: "{{client_secret}}"
    response_content_type: application/json
    response_map:
      access_token: "$.data.access_token"
      expires_in: "$.data.expires_in"
      refresh_token: "$.data.refresh_token"
      scope: "join('$.data.scope', ',')"
  refresh_token_request:
    endpoint: "https://hooli.example/oauth/token"
    auth_method: client_secret_basic
    params:
      grant_type: "refresh_token"
      client_id: "{{client_id}}"
      client_secret: "{{client_secret}}"
    response_content_type: application/x-www-form-urlencoded
  user_info_request:
    endpoint: "https://hooli.example/oauth/userinfo"
    auth_method: bearer_access_token
    response_content_type: application/json
    triggers:
      on_token_grant: true
      on_token_refresh: true
"""


def test_every_option_of_the_arcade_oauth2_reference_is_accepted() -> None:
    provider = resolve(yaml.safe_load(FULL_CUSTOM_PROVIDER))
    oauth2 = provider.oauth2
    assert (oauth2.scope_delimiter, oauth2.pkce.enabled) == (",", True)
    assert oauth2.token_request.auth_method == "client_secret_basic"
    assert oauth2.token_request.response_map["scope"] == "join('$.data.scope', ',')"
    refresh = oauth2.refresh_token_request
    assert refresh is not None
    assert refresh.response_content_type == "application/x-www-form-urlencoded"
    user_info = oauth2.user_info_request
    assert user_info is not None
    assert user_info.triggers.on_token_refresh

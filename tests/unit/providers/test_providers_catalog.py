"""The built-in catalog and how engine.yaml entries resolve against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import ConfigError
from shared.providers.catalog import CATALOG_DIR, load_catalog, resolve, resolve_all
from tests.support.provider_examples import builtin, hooli, hooli_entry

REQUIRED = {
    "google",
    "github",
    "microsoft",
    "slack",
    "linkedin",
    "x",
    "zoom",
    "dropbox",
    "atlassian",
    "notion",
    "spotify",
    "discord",
    "reddit",
    "twitch",
    "hubspot",
    "linear",
    "airtable",
    "figma",
    "asana",
    "clickup",
    "attio",
    "calendly",
    "pagerduty",
    "microsoft-powerbi",
}
#: Documented by Arcade as custom recipes, built in here.
ARCADE_CUSTOM = {
    "mailchimp",
    "miro",
    "square",
    "ticktick",
    "zoho",
    "salesforce",
    "zendesk",
    "cisco-duo",
    "github-enterprise",
}
#: Beyond Arcade: the providers users ask for most.
MORE = {
    "gitlab",
    "bitbucket",
    "box",
    "intercom",
    "shopify",
    "quickbooks",
    "xero",
    "okta",
    "stripe-connect",
    "monday",
    "webex",
    "pipedrive",
}


def test_the_whole_catalog_validates_and_every_provider_resolves() -> None:
    catalog = load_catalog(CATALOG_DIR)
    assert set(catalog.entries) >= REQUIRED | ARCADE_CUSTOM | MORE
    assert len(catalog.entries) >= 40
    for provider_id in catalog.entries:
        provider = builtin(provider_id)
        assert provider.oauth2.authorize_request.endpoint.startswith("https://")
        assert provider.oauth2.token_request.endpoint.startswith("https://")


def test_a_broken_catalog_file_names_the_provider_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text("providers:\n  acme:\n    description: x\n    oauth2: {scope_delimeter: ','}\n")
    with pytest.raises(ConfigError) as caught:
        load_catalog(bad)
    assert "providers.acme.oauth2.scope_delimeter" in str(caught.value)


def test_a_builtin_enabled_by_provider_id_alone_takes_its_id_and_catalog_config() -> None:
    provider = builtin("google")
    assert provider.id == "google"
    assert provider.builtin_id == "google"
    assert provider.description == "Google"
    assert provider.oauth2.user_info_request is not None


def test_an_explicit_id_wins_over_provider_id() -> None:
    provider = resolve({"id": "work-google", "provider_id": "google", "client_id": "a", "client_secret": "b"})
    assert (provider.id, provider.builtin_id) == ("work-google", "google")


def test_user_oauth2_keys_are_deep_merged_over_the_catalog() -> None:
    provider = builtin("google", oauth2={"authorize_request": {"params": {"prompt": "select_account"}}})
    params = provider.oauth2.authorize_request.params
    assert params["prompt"] == "select_account"
    assert params["access_type"] == "offline"
    assert provider.oauth2.authorize_request.endpoint == "https://accounts.google.com/o/oauth2/v2/auth"


def test_a_missing_refresh_request_defaults_to_the_token_endpoint() -> None:
    refresh = hooli().oauth2.refresh_token_request
    assert refresh is not None
    assert refresh.endpoint == "https://hooli.example/oauth/token"
    assert refresh.params["grant_type"] == "refresh_token"


def test_a_provider_without_refresh_tokens_gets_no_refresh_request() -> None:
    assert builtin("clickup").oauth2.refresh_token_request is None
    assert not builtin("clickup").can_refresh


def test_an_unknown_provider_id_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve({"provider_id": "goggle", "client_id": "a"}, key="auth.providers[3]")
    assert caught.value.key == "auth.providers[3].provider_id"
    assert "goggle" in str(caught.value)


def test_a_custom_provider_without_authorize_request_is_rejected() -> None:
    entry = hooli_entry()
    del entry["oauth2"]["authorize_request"]
    with pytest.raises(ConfigError) as caught:
        resolve(entry, key="auth.providers[0]")
    assert caught.value.key == "auth.providers[0].oauth2.authorize_request"


def test_a_request_without_endpoint_is_rejected() -> None:
    entry = hooli_entry(user_info_request={"params": {}})
    with pytest.raises(ConfigError) as caught:
        resolve(entry)
    assert caught.value.key == "oauth2.user_info_request.endpoint"


def test_a_relative_endpoint_is_rejected() -> None:
    entry = hooli_entry(token_request={"endpoint": "/oauth/token"})
    with pytest.raises(ConfigError, match="absolute"):
        resolve(entry)


def test_an_enabled_provider_needs_a_client_id_but_a_disabled_one_does_not() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve({"provider_id": "github", "client_id": ""})
    assert caught.value.key == "client_id"
    assert not resolve({"id": "default-github", "provider_id": "github", "enabled": False}).enabled


def test_duplicate_provider_ids_are_rejected() -> None:
    entries = [
        {"provider_id": "github", "client_id": "a"},
        {"id": "github", "provider_id": "github", "client_id": "b"},
    ]
    with pytest.raises(ConfigError) as caught:
        resolve_all(entries)
    assert caught.value.key == "auth.providers[1].id"


def test_a_builtin_on_the_customers_own_host_takes_it_from_variables() -> None:
    provider = builtin("zendesk", variables={"subdomain": "acme"})
    assert provider.oauth2.authorize_request.endpoint == "https://acme.zendesk.com/oauth/authorizations/new"
    assert provider.oauth2.token_request.endpoint == "https://acme.zendesk.com/oauth/tokens"


def test_a_variable_with_a_default_may_be_left_out() -> None:
    assert (
        builtin("zoho", variables={}).oauth2.token_request.endpoint
        == "https://accounts.zoho.com/oauth/v2/token"
    )
    eu = builtin("zoho", variables={"accounts_domain": "accounts.zoho.eu"})
    assert eu.oauth2.token_request.endpoint == "https://accounts.zoho.eu/oauth/v2/token"


def test_a_missing_variable_stops_start_up_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve({"provider_id": "zendesk", "client_id": "c"}, key="auth.providers[0]")
    assert caught.value.key == "auth.providers[0].variables.subdomain"
    assert "subdomain" in str(caught.value)


@pytest.mark.parametrize("value", ["acme.evil.example/x", "acme:8080", "user@acme", ""])
def test_a_variable_that_would_change_more_than_its_part_of_the_url_is_refused(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        builtin("zendesk", variables={"subdomain": value})
    assert caught.value.key.endswith("variables.subdomain")


def test_a_variable_the_provider_does_not_take_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        builtin("google", variables={"subdomain": "acme"})
    assert caught.value.key.endswith("variables.subdomain")


def test_a_custom_provider_takes_no_variables() -> None:
    with pytest.raises(ConfigError):
        resolve({**hooli_entry(), "variables": {"subdomain": "acme"}})


def test_a_provider_defined_in_two_catalog_files_is_refused(tmp_path: Path) -> None:
    for name in ("catalog_a.yaml", "catalog_b.yaml"):
        (tmp_path / name).write_text((CATALOG_DIR / "catalog.yaml").read_text())
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    assert "two catalog files" in str(caught.value)


@pytest.mark.parametrize(
    ("variables", "endpoint", "problem"),
    [
        ("{}", "https://{subdomain}.example.com/auth", "undeclared variables: subdomain"),
        ("{sub: {description: d, example: a}}", "https://example.com/auth", "no endpoint uses: sub"),
        ("{sub: {description: d, example: a.b, pattern: '[a-z]+'}}", "https://{sub}.example.com/", "example"),
    ],
)
def test_a_catalog_variable_must_be_declared_used_and_match_its_own_example(
    tmp_path: Path, variables: str, endpoint: str, problem: str
) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text(
        "providers:\n  acme:\n    description: x\n"
        f"    variables: {variables}\n"
        "    oauth2:\n"
        f"      authorize_request: {{endpoint: '{endpoint}'}}\n"
        "      token_request: {endpoint: 'https://example.com/token'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_catalog(bad)
    assert problem in str(caught.value)


def test_an_older_provider_id_from_arcades_docs_resolves_to_the_provider() -> None:
    provider = builtin("squareup")
    assert (provider.id, provider.builtin_id) == ("squareup", "square")
    assert provider.oauth2.token_request.endpoint == "https://connect.squareup.com/oauth2/token"

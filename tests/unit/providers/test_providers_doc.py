"""docs/providers.md lists every catalog provider with the PKCE and scope delimiter the catalog has."""

from __future__ import annotations

import re
from pathlib import Path

from shared.providers.catalog import load_catalog
from tests.support.provider_examples import builtin

DOC = Path(__file__).parents[3] / "docs" / "providers.md"
ROW = re.compile(
    r"^\| `(?P<id>[a-z0-9-]+)` \| (?P<name>[^|]+) \| (?P<pkce>[^|]+)"
    r" \| (?P<refresh>[^|]+) \| (?P<scopes>[^|]+) \|"
)


def _rows() -> dict[str, dict[str, str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        if match := ROW.match(line):
            rows[match["id"]] = {key: value.strip() for key, value in match.groupdict().items()}
    return rows


def test_the_provider_table_lists_every_catalog_provider_once() -> None:
    assert set(_rows()) == set(load_catalog().entries)


def test_the_provider_table_says_what_the_catalog_does_for_pkce_scopes_and_refresh() -> None:
    catalog = load_catalog()
    for provider_id, row in _rows().items():
        provider = builtin(provider_id)
        pkce = "on" if provider.oauth2.pkce.enabled else "off"
        assert row["pkce"].split(":")[0] == pkce, provider_id
        delimiter = provider.oauth2.scope_delimiter
        assert row["scopes"] == ("space" if delimiter == " " else f"`{delimiter}`"), provider_id
        refreshes = catalog.entries[provider_id].quirks.supports_refresh
        assert row["refresh"].startswith("none") != refreshes, provider_id

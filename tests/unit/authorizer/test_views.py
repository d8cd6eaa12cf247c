"""Admin API bodies to provider entries and back."""

from __future__ import annotations

import pytest

from services.authorizer import views
from shared.errors import BadRequest
from shared.providers.registry import ProviderRecord
from tests.support.provider_examples import hooli


class TestEntryFromBody:
    def test_status_becomes_enabled_and_credentials_leave_the_oauth2_block(self):
        entry, external = views.entry_from_body(
            {
                "id": "p",
                "status": "inactive",
                "external_id": "x-1",
                "oauth2": {"client_id": "c", "client_secret": "s"},
            }
        )
        assert entry == {"id": "p", "enabled": False, "client_id": "c", "client_secret": "s", "oauth2": {}}
        assert external == "x-1"

    def test_nulls_and_read_only_fields_are_ignored(self):
        entry, _ = views.entry_from_body(
            {"id": "p", "description": None, "created_at": "t", "oauth2": {"redirect_uri": "r"}}
        )
        assert entry == {"id": "p", "oauth2": {}}

    def test_an_unknown_status_is_refused(self):
        with pytest.raises(BadRequest):
            views.entry_from_body({"id": "p", "status": "sleeping"})


class TestMergeEntry:
    def test_a_patch_merges_nested_blocks_key_by_key(self):
        base = {"id": "p", "oauth2": {"token_request": {"endpoint": "e", "params": {"a": "1"}}}}
        patch = {"oauth2": {"token_request": {"params": {"b": "2"}}}}
        merged = views.merge_entry(base, patch)
        assert merged["oauth2"]["token_request"] == {"endpoint": "e", "params": {"a": "1", "b": "2"}}


class TestSecretView:
    def test_the_value_is_never_shown_and_short_secrets_get_no_hint(self):
        assert views.secret_view("short") == {
            "binding": "static",
            "editable": True,
            "exists": True,
            "hint": None,
            "value": None,
        }
        assert views.secret_view("a-much-longer-secret-wxyz")["hint"] == "…wxyz"
        assert views.secret_view("")["exists"] is False


class TestProviderView:
    def test_the_revocation_request_is_shown_like_the_other_requests(self):
        revoke = {"endpoint": "https://hooli.example/oauth/revoke", "auth_method": "client_secret_basic"}
        record = ProviderRecord(hooli(token_revocation_request=revoke), {}, "config", "t", "t")
        shown = views.provider_view(record, "https://engine/oauth/callback")["oauth2"]
        assert shown["token_revocation_request"]["endpoint"] == revoke["endpoint"]
        bare = views.provider_view(ProviderRecord(hooli(), {}, "config", "t", "t"), "r")["oauth2"]
        assert bare["token_revocation_request"] is None

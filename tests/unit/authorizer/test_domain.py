"""The authorizer's pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.authorizer import domain
from services.authorizer.domain import AuthorizationRecord, AuthorizationSecrets
from shared.contracts.authorization import OAuthCallback
from shared.errors import BadRequest
from shared.providers.catalog import resolve
from shared.providers.models import TokenGrant
from shared.tokens.model import StoredToken
from tests.support.provider_examples import hooli_entry

NOW = datetime(2025, 1, 1, tzinfo=UTC)
HOOLI = resolve(hooli_entry())


def record(**changes) -> AuthorizationRecord:
    base = AuthorizationRecord(
        id="ac_1", user_id="u", provider_id="hooli", scopes=["a"], created_at=NOW, updated_at=NOW
    )
    return base.model_copy(update=changes)


def token(**changes) -> StoredToken:
    return StoredToken(access_token="at", issued_at=NOW, **changes)


class TestScopes:
    def test_merging_keeps_order_and_drops_duplicates_and_blanks(self):
        assert domain.merge_scopes(["b", "a"], ["a", "", "c"]) == ["b", "a", "c"]


class TestStoredToken:
    def test_a_refresh_token_the_provider_did_not_resend_is_kept(self):
        grant = TokenGrant(access_token="new", refresh_token=None, scopes=["a"])
        new = domain.stored_token(
            grant,
            previous=token(refresh_token="old-rt", generation=3),
            requested=["a"],
            user_info={},
            now=NOW,
        )
        assert (new.refresh_token, new.generation) == ("old-rt", 4)

    def test_the_requested_scopes_stand_in_when_the_provider_does_not_echo_any(self):
        grant = TokenGrant(access_token="t", scopes=None)
        assert domain.stored_token(grant, previous=None, requested=["x"], user_info={}, now=NOW).scopes == [
            "x"
        ]

    def test_the_granted_scopes_win_over_the_requested_ones(self):
        grant = TokenGrant(access_token="t", scopes=["x", "y"])
        assert domain.stored_token(grant, previous=None, requested=["x"], user_info={}, now=NOW).scopes == [
            "x",
            "y",
        ]


class TestRecords:
    def test_failing_drops_every_held_secret(self):
        held = record(secrets=AuthorizationSecrets(code_verifier="v", token=token()))
        failed = held.failed("user_mismatch", NOW)
        assert failed.status == "failed" and failed.failure_reason == "user_mismatch"
        assert failed.secrets == AuthorizationSecrets()

    def test_a_flow_being_stored_counts_as_completed_once_the_store_has_its_token(self):
        storing = record(stage="storing", updated_at=NOW)
        assert domain.completed_by_store(storing, token())
        assert not domain.completed_by_store(storing, None)
        assert not domain.completed_by_store(
            storing, StoredToken(access_token="old", issued_at=NOW - timedelta(1))
        )
        assert not domain.completed_by_store(record(stage="exchanging"), token())

    def test_the_authorization_shows_the_token_only_when_completed(self):
        pending = domain.to_authorization(record(url="https://idp/authorize"))
        assert pending.context is None and pending.url == "https://idp/authorize"
        done = domain.to_authorization(record().completed(["a"], NOW), token(user_info={"sub": "u"}))
        assert done.context is not None and done.context.token == "at" and done.url is None


class TestCallbackChecks:
    def test_a_provider_error_is_the_reason(self):
        assert domain.callback_error(OAuthCallback(state="s", error="access_denied")) == "access_denied"

    def test_a_callback_without_code_fails(self):
        assert domain.callback_error(OAuthCallback(state="s")) == "missing_code"

    def test_an_issuer_on_the_providers_host_matches(self):
        assert domain.issuer_matches("https://auth.hooli.example", HOOLI) is False
        assert domain.issuer_matches("https://hooli.example", HOOLI)
        assert not domain.issuer_matches("https://evil.example", HOOLI)

    def test_the_failure_message_never_repeats_unknown_provider_text_verbatim_beyond_the_code(self):
        assert "access" in domain.failure_message("access_denied").lower()
        assert domain.failure_message("weird") == "The authorization failed (weird)."


class TestVerifierRedirect:
    def test_builtin_goes_to_the_gateways_own_page(self):
        url = domain.verifier_redirect("builtin", public_url="http://gw", verifier_url=None, flow_id="f1")
        assert url == "http://gw/oauth/verify?flow_id=f1"

    def test_custom_goes_to_the_apps_verifier_keeping_its_query(self):
        url = domain.verifier_redirect(
            "custom", public_url="http://gw", verifier_url="https://app/v?x=1", flow_id="f"
        )
        assert url == "https://app/v?x=1&flow_id=f"

    def test_custom_without_a_verifier_url_is_refused(self):
        with pytest.raises(BadRequest):
            domain.verifier_redirect("custom", public_url="http://gw", verifier_url=None, flow_id="f")


class TestNextUri:
    @pytest.mark.parametrize("bad", ["javascript:alert(1)", "/relative", "ftp://x/y"])
    def test_only_absolute_http_urls_are_accepted(self, bad):
        with pytest.raises(BadRequest):
            domain.check_next_uri(bad)

    def test_an_https_url_passes(self):
        assert domain.check_next_uri("https://app.example/done") == "https://app.example/done"

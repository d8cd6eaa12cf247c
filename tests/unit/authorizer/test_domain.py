"""The authorizer's pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.authorizer import callback_pages, domain
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

    def test_the_authorization_shows_the_token_only_when_completed(self):
        pending = domain.to_authorization(record(url="https://idp/authorize"))
        assert pending.context is None and pending.url == "https://idp/authorize"
        done = domain.to_authorization(record().completed(["a"], NOW), token(user_info={"sub": "u"}))
        assert done.context is not None and done.context.token == "at" and done.url is None


class TestTransitions:
    @pytest.mark.parametrize(
        ("before", "after"),
        [
            ("consent", "exchanging"),
            ("consent", "done"),
            ("exchanging", "verify"),
            ("exchanging", "done"),
            ("verify", "done"),
        ],
    )
    def test_an_authorization_moves_forward_one_stage_at_a_time(self, before, after):
        domain.check_transition(before, after)

    @pytest.mark.parametrize(
        ("before", "after"),
        [
            ("done", "done"),
            ("done", "consent"),
            ("verify", "exchanging"),
            ("exchanging", "exchanging"),
            ("consent", "verify"),
            ("consent", "consent"),
        ],
    )
    def test_it_never_moves_back_stays_put_or_leaves_done(self, before, after):
        with pytest.raises(ValueError, match="does not go from"):
            domain.check_transition(before, after)

    def test_a_claim_sets_the_exchange_deadline_and_the_end_clears_it(self):
        claimed = record().claimed(NOW, deadline_at=NOW + timedelta(seconds=15))
        assert (claimed.stage, claimed.deadline_at) == ("exchanging", NOW + timedelta(seconds=15))
        assert claimed.completed(["a"], NOW).deadline_at is None
        assert claimed.failed("x", NOW).deadline_at is None

    def test_holding_keeps_the_token_secret_until_the_verification_deadline(self):
        secret = StoredToken(access_token="held-access-token", issued_at=NOW)
        held = record(stage="exchanging").held(
            NOW, flow_id="f1", token=secret, deadline_at=NOW + timedelta(minutes=10)
        )
        assert (held.stage, held.flow_id, held.secrets.token) == ("verify", "f1", secret)
        assert "held-access-token" not in repr(held)


class TestOverdue:
    def test_an_exchange_past_its_deadline_is_interrupted(self):
        claimed = record().claimed(NOW, deadline_at=NOW + timedelta(seconds=15))
        assert domain.overdue_reason(claimed, NOW + timedelta(seconds=14)) is None
        assert domain.overdue_reason(claimed, NOW + timedelta(seconds=15)) == "exchange_interrupted"

    def test_a_verification_past_its_deadline_has_expired(self):
        held = record(stage="verify", deadline_at=NOW)
        assert domain.overdue_reason(held, NOW) == "verification_expired"

    @pytest.mark.parametrize("stage", ["consent", "done"])
    def test_a_record_waiting_for_the_user_or_finished_is_never_overdue(self, stage):
        assert domain.overdue_reason(record(stage=stage, deadline_at=NOW), NOW + timedelta(days=1)) is None


class TestCurrentOutcome:
    """What a second copy of a callback (or a reload) shows for the authorization as it is."""

    def verifier(self, flow_id: str) -> str:
        return f"http://gw/oauth/verify?flow_id={flow_id}"

    def test_a_flow_waiting_for_verification_leads_to_the_verifier_again(self):
        outcome = callback_pages.current_outcome(record(stage="verify", flow_id="f1"), self.verifier)
        assert (outcome.status, outcome.redirect_to) == ("verify", "http://gw/oauth/verify?flow_id=f1")

    def test_a_completed_flow_shows_completion_and_goes_to_next_uri(self):
        done = record(next_uri="https://app/done").completed(["a"], NOW)
        outcome = callback_pages.current_outcome(done, self.verifier)
        assert (outcome.status, outcome.redirect_to, outcome.authorization) == (
            "completed",
            "https://app/done",
            None,
        )

    def test_a_failed_flow_shows_its_reason_in_plain_words(self):
        outcome = callback_pages.current_outcome(record().failed("exchange_interrupted", NOW), self.verifier)
        assert outcome.status == "failed" and "start the authorization again" in outcome.message

    def test_a_flow_still_exchanging_is_pending(self):
        outcome = callback_pages.current_outcome(record(stage="exchanging"), self.verifier)
        assert outcome.status == "pending"


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
        assert "access" in callback_pages.failure_message("access_denied").lower()
        assert callback_pages.failure_message("weird") == "The authorization failed (weird)."


class TestVerifierRedirect:
    def test_builtin_goes_to_the_gateways_own_page(self):
        url = callback_pages.verifier_redirect(
            "builtin", public_url="http://gw", verifier_url=None, flow_id="f1"
        )
        assert url == "http://gw/oauth/verify?flow_id=f1"

    def test_custom_goes_to_the_apps_verifier_keeping_its_query(self):
        url = callback_pages.verifier_redirect(
            "custom", public_url="http://gw", verifier_url="https://app/v?x=1", flow_id="f"
        )
        assert url == "https://app/v?x=1&flow_id=f"

    def test_custom_without_a_verifier_url_is_refused(self):
        with pytest.raises(BadRequest):
            callback_pages.verifier_redirect("custom", public_url="http://gw", verifier_url=None, flow_id="f")


class TestNextUri:
    ALLOWED = frozenset({"https://app.example", "http://127.0.0.1:9099"})

    @pytest.mark.parametrize("bad", ["javascript:alert(1)", "/relative", "ftp://x/y"])
    def test_only_absolute_http_urls_are_accepted(self, bad):
        with pytest.raises(BadRequest):
            domain.check_next_uri(bad, None)

    @pytest.mark.parametrize(
        "url", ["https://app.example/done", "HTTPS://App.Example:443/x?y=1", "http://127.0.0.1:9099/ok"]
    )
    def test_a_url_on_an_allowed_origin_passes(self, url):
        assert domain.check_next_uri(url, self.ALLOWED) == url

    @pytest.mark.parametrize(
        "url", ["https://evil.example/done", "http://app.example/done", "https://app.example:8443/"]
    )
    def test_a_url_on_another_origin_is_refused_naming_the_setting(self, url):
        with pytest.raises(BadRequest, match=r"auth\.next_uri_origins"):
            domain.check_next_uri(url, self.ALLOWED)

    def test_without_a_list_any_http_url_passes(self):
        assert domain.check_next_uri("https://anywhere.example/", None) == "https://anywhere.example/"

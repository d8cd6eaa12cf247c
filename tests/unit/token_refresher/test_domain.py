"""The refresher's pure rules: decisions under the lock, failure classes, backoff, the stored result."""

from datetime import timedelta

import pytest

from services.token_refresher import domain
from services.token_refresher.domain import Decision, FailureKind
from shared.errors import InvalidGrant, ProviderError, ProviderUnavailable, ServiceUnavailable
from shared.providers.models import TokenGrant
from shared.tokens.model import RefreshPolicy
from tests.unit.token_refresher.fakes import T0, token

POLICY = RefreshPolicy(margin_seconds=300, lifetime_fraction=0.25)


class TestDecidingUnderTheLock:
    def test_a_token_inside_its_margin_is_refreshed(self):
        assert (
            domain.decide(token(expires_in=60), now=T0, policy=POLICY, refreshable=True) is Decision.REFRESH
        )

    def test_a_token_someone_already_refreshed_is_returned_as_is(self):
        decision = domain.decide(token(expires_in=3000), now=T0, policy=POLICY, refreshable=True)
        assert decision is Decision.FRESH

    def test_a_forced_refresh_happens_even_when_not_due(self):
        decision = domain.decide(token(expires_in=3000), now=T0, policy=POLICY, refreshable=True, force=True)
        assert decision is Decision.REFRESH

    def test_a_forced_caller_takes_a_refresh_that_happened_while_it_waited(self):
        before = token(expires_in=3000)
        after = before.model_copy(update={"generation": 1, "issued_at": T0})
        decision = domain.decide(after, now=T0, policy=POLICY, refreshable=True, force=True, seen=before)
        assert decision is Decision.FRESH

    def test_a_token_without_a_refresh_token_is_not_refreshable(self):
        decision = domain.decide(token(refresh_token=None), now=T0, policy=POLICY, refreshable=False)
        assert decision is Decision.NOT_REFRESHABLE

    def test_a_missing_token_is_not_refreshable_and_a_dead_one_needs_reauthorization(self):
        assert domain.decide(None, now=T0, policy=POLICY, refreshable=True) is Decision.NOT_REFRESHABLE
        dead = token(status="reauthorization_required")
        assert (
            domain.decide(dead, now=T0, policy=POLICY, refreshable=True) is Decision.REAUTHORIZATION_REQUIRED
        )


class TestClassifyingFailures:
    def test_invalid_grant_and_revocation_codes_need_a_new_consent(self):
        assert (
            domain.classify(InvalidGrant("x", provider_error="invalid_grant")).kind is FailureKind.REAUTHORIZE
        )
        revoked = ProviderError("x", provider_error="unauthorized_client")
        assert domain.classify(revoked).kind is FailureKind.REAUTHORIZE

    def test_timeouts_5xx_and_429_are_transient_and_keep_retry_after(self):
        failure = domain.classify(ProviderUnavailable("x", status_code=429, retry_after=7.0))
        assert failure.kind is FailureKind.TRANSIENT and failure.retry_after == 7.0
        assert domain.classify(ServiceUnavailable("x")).kind is FailureKind.TRANSIENT

    def test_other_oauth_errors_are_rejections_an_operator_must_fix(self):
        failure = domain.classify(ProviderError("x", provider_error="invalid_client"))
        assert failure.kind is FailureKind.REJECTED and failure.code == "invalid_client"


class TestBackoff:
    @pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0.5, 1.0), (2, 1.0, 2.0), (4, 4.0, 8.0)])
    def test_each_attempt_doubles_the_window_and_keeps_at_least_half_of_it(self, attempt, low, high):
        assert domain.backoff(attempt, base=1, cap=100, rand=lambda: 0.0) == low
        assert domain.backoff(attempt, base=1, cap=100, rand=lambda: 0.999999) == pytest.approx(
            high, rel=1e-5
        )

    def test_the_window_stops_growing_at_the_cap(self):
        assert domain.backoff(30, base=5, cap=900, rand=lambda: 1.0) == 900

    def test_a_longer_retry_after_wins_and_a_shorter_one_does_not(self):
        assert domain.retry_delay(1, 30.0, base=1, cap=100, rand=lambda: 0.0) == 30.0
        assert domain.retry_delay(1, 0.1, base=1, cap=100, rand=lambda: 0.0) == 0.5

    def test_an_absurd_retry_after_is_capped_at_an_hour(self):
        assert domain.retry_delay(1, 10**9, base=1, cap=100, rand=lambda: 0.0) == domain.RETRY_AFTER_CEILING


class TestTheRefreshedToken:
    def test_the_old_refresh_token_is_kept_when_the_response_has_none(self):
        old = token()
        fresh = domain.refreshed_token(old, TokenGrant(access_token="at-1"), now=T0, user_info=None)
        assert fresh.refresh_token == "rt-0" and fresh.access_token == "at-1"

    def test_a_rotated_refresh_token_replaces_the_old_one_and_the_generation_moves(self):
        grant = TokenGrant(access_token="at-1", refresh_token="rt-1", expires_at=T0 + timedelta(hours=1))
        fresh = domain.refreshed_token(token(), grant, now=T0, user_info={"sub": "a"})
        assert (fresh.refresh_token, fresh.generation, fresh.user_info) == ("rt-1", 1, {"sub": "a"})
        assert fresh.issued_at == T0 and fresh.expires_at == T0 + timedelta(hours=1)

    def test_scopes_are_kept_when_the_response_omits_them(self):
        fresh = domain.refreshed_token(token(), TokenGrant(access_token="a"), now=T0, user_info=None)
        assert fresh.scopes == ["read"]


class TestLostRaceRecovery:
    def test_a_refresh_token_changed_by_someone_else_means_the_race_was_lost_not_the_grant(self):
        assert domain.lost_race("rt-0", token(refresh_token="rt-1")) is True

    def test_the_same_refresh_token_means_the_grant_is_really_gone(self):
        assert domain.lost_race("rt-0", token(refresh_token="rt-0")) is False
        assert domain.lost_race("rt-0", None) is False

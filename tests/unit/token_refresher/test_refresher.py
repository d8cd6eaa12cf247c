"""The refresh use case against in-memory ports: one call per connection, failures classified."""

import asyncio
import base64
from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from services.token_refresher.ports import Claim
from services.token_refresher.settings import RefresherSettings
from shared.contracts.events import TokenRefreshed, TokenRefreshFailed
from shared.contracts.tokens import RefreshToken
from shared.errors import ProviderUnavailable
from shared.providers.client import ProviderClient
from shared.tokens.model import connection_id_of
from tests.unit.token_refresher.fakes import T0, USERINFO_URL, Kit, timeout_error, token

ASK = RefreshToken(user_id="alice", provider_id="acme")


def claim(kit: Kit, connection_id: str, due: datetime) -> Claim:
    """The claim the schedule hands over: the connection's owner and provider come with it."""
    meta = kit.tokens.meta.get(connection_id)
    who = (meta.user_id, meta.provider_id) if meta else (None, None)
    return Claim(connection_id, due, due + timedelta(seconds=60), *who)


def rotated(n: int = 1, **extra):
    return {"access_token": f"at-{n}", "refresh_token": f"rt-{n}", "expires_in": 3600, **extra}


class TestOnDemandRefresh:
    async def test_fifty_concurrent_callers_share_one_token_endpoint_call(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(200, rotated())
        outcomes = await asyncio.gather(*(kit.refresher.on_demand(ASK) for _ in range(50)))
        assert kit.endpoint.calls == 1
        assert {o.status for o in outcomes} == {"refreshed"}
        assert kit.stored().access_token == "at-1" and kit.stored().refresh_token == "rt-1"

    async def test_callers_arriving_after_the_refresh_find_it_fresh_without_a_call(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(200, rotated())
        await kit.refresher.on_demand(ASK)
        again = await kit.refresher.on_demand(ASK)
        assert again.status == "fresh" and kit.endpoint.calls == 1

    async def test_a_forced_refresh_calls_even_when_the_token_is_not_due(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token(expires_in=3000))
        kit.endpoint.then(200, rotated())
        outcome = await kit.refresher.on_demand(RefreshToken(user_id="alice", provider_id="acme", force=True))
        assert outcome.status == "refreshed" and kit.endpoint.calls == 1

    async def test_the_request_follows_the_provider_refresh_config(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(200, rotated())
        await kit.refresher.on_demand(ASK)
        spec = kit.endpoint.sent[0]
        assert spec.form == {"grant_type": "refresh_token", "refresh_token": "rt-0"}
        assert spec.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()

    async def test_the_old_refresh_token_is_kept_when_none_comes_back(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(200, {"access_token": "at-1", "expires_in": 60})
        await kit.refresher.on_demand(ASK)
        assert kit.stored().refresh_token == "rt-0" and kit.stored().access_token == "at-1"

    async def test_a_response_map_reads_a_nested_answer(self):
        kit = Kit(response_map={"access_token": "$.data.token", "expires_in": "$.data.ttl"})
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(200, {"data": {"token": "nested", "ttl": 120}})
        await kit.refresher.on_demand(ASK)
        assert kit.stored().access_token == "nested"
        assert kit.stored().expires_at == T0 + timedelta(seconds=120)

    async def test_the_write_carries_a_refreshed_event_without_any_token(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(200, rotated())
        await kit.refresher.on_demand(ASK)
        (event,) = kit.tokens.events
        assert isinstance(event, TokenRefreshed)
        assert "at-1" not in event.model_dump_json() and "rt-1" not in event.model_dump_json()

    async def test_a_token_without_a_refresh_token_is_not_refreshable(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token(refresh_token=None))
        outcome = await kit.refresher.on_demand(ASK)
        assert outcome.status == "not_refreshable" and kit.endpoint.calls == 0

    async def test_an_unknown_connection_is_not_refreshable(self):
        outcome = await Kit().refresher.on_demand(ASK)
        assert outcome.status == "not_refreshable"


class TestUserInfo:
    async def test_user_info_is_fetched_again_when_on_token_refresh_is_set(self):
        kit = Kit(user_info_on_refresh=True)
        kit.tokens.seed("alice", "acme", token(user_info={"sub": "old"}))
        kit.endpoint.then(200, rotated())
        await kit.refresher.on_demand(ASK)
        assert kit.stored().user_info["sub"] == "alice"
        assert kit.endpoint.sent[1].headers["Authorization"] == "Bearer at-1"

    async def test_user_info_is_left_alone_otherwise(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token(user_info={"sub": "old"}))
        kit.endpoint.then(200, rotated())
        await kit.refresher.on_demand(ASK)
        assert kit.stored().user_info == {"sub": "old"} and len(kit.endpoint.sent) == 1


class TestWriteFirst:
    async def test_the_new_token_pair_is_stored_before_user_info_is_asked_for(self):
        kit = Kit(user_info_on_refresh=True)
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(200, rotated())
        stored_when_asked: list[tuple[str, str | None]] = []

        class Watching:
            async def send(self, spec, *, timeout):
                if spec.url == USERINFO_URL:
                    stored_when_asked.append((kit.stored().access_token, kit.stored().refresh_token))
                return await kit.endpoint.send(spec, timeout=timeout)

        kit.refresher._client = ProviderClient(Watching(), clock=kit.clock.now)
        await kit.refresher.on_demand(ASK)
        assert stored_when_asked == [("at-1", "rt-1")]
        assert kit.stored().user_info["sub"] == "alice"

    async def test_user_info_does_not_overwrite_a_token_written_after_ours(self):
        kit = Kit(user_info_on_refresh=True)
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(200, rotated())
        later = token(expires_in=3600, refresh_token="rt-later", generation=7)

        class Overtaken:
            async def send(self, spec, *, timeout):
                if spec.url == USERINFO_URL:  # a later refresh lands while user info is on its way
                    await kit.tokens.put("alice", "acme", later, events=[])
                return await kit.endpoint.send(spec, timeout=timeout)

        kit.refresher._client = ProviderClient(Overtaken(), clock=kit.clock.now)
        outcome = await kit.refresher.on_demand(ASK)
        assert outcome.status == "refreshed"
        assert kit.stored().refresh_token == "rt-later" and kit.stored().generation == 7


class TestUnknownOutcome:
    async def test_an_interrupted_refresh_is_tried_once_more_with_the_same_refresh_token(self):
        kit = Kit()
        connection_id = kit.tokens.seed("alice", "acme", token())
        kit.tokens.interrupted[connection_id] = T0 - timedelta(seconds=6)
        kit.endpoint.then(200, rotated())
        outcome = await kit.refresher.on_demand(ASK)
        assert outcome.status == "refreshed" and kit.endpoint.calls == 1
        assert kit.endpoint.sent[0].form["refresh_token"] == "rt-0"
        assert kit.stored().refresh_token == "rt-1"

    async def test_invalid_grant_after_an_interrupted_refresh_is_reported_as_an_unknown_outcome(self):
        kit = Kit()
        connection_id = kit.tokens.seed("alice", "acme", token())
        kit.tokens.interrupted[connection_id] = T0 - timedelta(seconds=6)
        kit.endpoint.then(400, {"error": "invalid_grant"})
        outcome = await kit.refresher.on_demand(ASK)
        assert outcome.status == "reauthorization_required"
        (event,) = kit.tokens.events
        assert isinstance(event, TokenRefreshFailed) and event.reason == "refresh_outcome_unknown"

    async def test_invalid_grant_after_a_timed_out_call_is_reported_as_an_unknown_outcome(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.fail(timeout_error()).then(400, {"error": "invalid_grant"})
        outcome = await kit.refresher.on_demand(ASK)
        assert outcome.status == "reauthorization_required" and kit.endpoint.calls == 2
        (event,) = kit.tokens.events
        assert isinstance(event, TokenRefreshFailed) and event.reason == "refresh_outcome_unknown"

    async def test_a_refresh_stopped_mid_call_keeps_its_marker_for_the_next_holder(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.gate = asyncio.Event()  # the call never answers
        asking = asyncio.create_task(kit.refresher.on_demand(ASK))
        for _ in range(20):  # in-memory ports: a few turns of the loop reach the call
            await asyncio.sleep(0)
        assert kit.endpoint.sent
        kit.refresher._flights[connection_id_of("alice", "acme")].cancel()  # the replica stops mid-call
        with pytest.raises(asyncio.CancelledError):
            await asking
        (lock,) = kit.tokens.held
        assert lock.uncertain and not lock.released

    async def test_invalid_grant_after_a_503_keeps_its_own_reason(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(503).then(400, {"error": "invalid_grant"})  # a 503 is an answer: nothing spent
        await kit.refresher.on_demand(ASK)
        (event,) = kit.tokens.events
        assert isinstance(event, TokenRefreshFailed) and event.reason == "invalid_grant"


class TestInvalidGrant:
    async def test_invalid_grant_marks_the_connection_and_publishes_a_failure(self):
        kit = Kit()
        connection_id = kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(400, {"error": "invalid_grant"})
        outcome = await kit.refresher.on_demand(ASK)
        assert outcome.status == "reauthorization_required"
        assert kit.stored().status == "reauthorization_required"
        assert connection_id not in kit.tokens.due
        (event,) = kit.tokens.events
        assert isinstance(event, TokenRefreshFailed) and event.reason == "invalid_grant"
        assert event.status == "reauthorization_required"

    async def test_invalid_grant_after_someone_else_rotated_the_token_counts_as_success(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        winner = token(expires_in=3600, refresh_token="rt-winner", generation=5)

        class Racing:
            async def send(self, spec, *, timeout):
                kit.tokens.seed("alice", "acme", winner)  # another writer got there first
                return await kit.endpoint.send(spec, timeout=timeout)

        kit.refresher._client = ProviderClient(Racing(), clock=kit.clock.now)
        kit.endpoint.then(400, {"error": "invalid_grant"})
        outcome = await kit.refresher.on_demand(ASK)
        assert outcome.status == "refreshed"
        assert kit.stored().refresh_token == "rt-winner" and kit.stored().status == "active"


class TestTransientFailures:
    async def test_a_503_is_retried_quickly_inside_the_same_request(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(503).then(503).then(200, rotated())
        outcome = await kit.refresher.on_demand(ASK)
        assert outcome.status == "refreshed" and kit.endpoint.calls == 3
        assert kit.clock.slept == [0.1875, 0.375]  # equal jitter at rand=0.5: 0.75 and 1.5 of base

    async def test_retry_after_is_honoured_when_it_fits_the_budget(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(429, {}, retry_after="2").then(200, rotated())
        await kit.refresher.on_demand(ASK)
        assert kit.clock.slept == [2.0]

    async def test_a_failure_that_outlasts_the_quick_retries_reschedules_with_backoff(self):
        kit = Kit()
        connection_id = kit.tokens.seed("alice", "acme", token(expires_in=120))
        kit.endpoint.fail(timeout_error()).fail(timeout_error()).fail(timeout_error())
        with pytest.raises(ProviderUnavailable):
            await kit.refresher.on_demand(ASK)
        assert kit.endpoint.calls == 3 and kit.tokens.failures[connection_id] == 1
        assert kit.tokens.due[connection_id] == kit.clock.now() + timedelta(
            seconds=3.75
        )  # 5 s window, rand 0.5
        assert kit.stored().access_token == "at-0"  # the old token stays, still valid for fresh_token

    async def test_a_long_retry_after_is_not_waited_for_inline(self):
        kit = Kit()
        connection_id = kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(503, {}, retry_after="120")
        with pytest.raises(ProviderUnavailable):
            await kit.refresher.on_demand(ASK)
        assert kit.endpoint.calls == 1
        assert kit.tokens.due[connection_id] == kit.clock.now() + timedelta(seconds=120)

    async def test_reaching_max_attempts_publishes_retrying_but_keeps_the_grant(self):
        kit = Kit(settings=RefresherSettings(max_attempts=2, inline_attempts=1))
        kit.tokens.seed("alice", "acme", token())
        for _ in range(3):
            kit.endpoint.then(503)
            with pytest.raises(ProviderUnavailable):
                await kit.refresher.on_demand(ASK)
        events = [e for e in kit.tokens.events if isinstance(e, TokenRefreshFailed)]
        assert [e.status for e in events] == ["retrying"]  # once, at the threshold
        assert kit.stored().status == "active"

    async def test_an_invalid_client_is_not_retried_inline(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(401, {"error": "invalid_client"})
        with pytest.raises(ProviderUnavailable) as caught:
            await kit.refresher.on_demand(ASK)
        assert kit.endpoint.calls == 1 and caught.value.details["provider_error"] == "invalid_client"
        assert kit.stored().status == "active"


class TestLocking:
    async def test_a_refresh_lets_its_lock_go_in_the_write_that_stores_the_new_token(self):
        kit = Kit()
        connection_id = kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(200, rotated())
        await kit.refresher.on_demand(ASK)
        assert kit.tokens.unlocked_by_write == 1 and not kit.tokens.locks[connection_id].locked()

    async def test_a_failed_refresh_still_lets_its_lock_go(self):
        kit = Kit(settings=RefresherSettings(inline_attempts=1))
        connection_id = kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(500)
        with pytest.raises(ProviderUnavailable):
            await kit.refresher.on_demand(ASK)
        assert kit.tokens.unlocked_by_write == 0 and not kit.tokens.locks[connection_id].locked()


class TestScheduledRefresh:
    async def test_a_claimed_entry_is_refreshed_and_rescheduled_from_the_new_expiry(self):
        kit = Kit()
        connection_id = kit.tokens.seed("alice", "acme", token(expires_in=200))
        kit.endpoint.then(200, rotated())
        outcome = await kit.refresher.scheduled(claim(kit, connection_id, T0 - timedelta(seconds=1)))
        assert outcome is not None and outcome.status == "refreshed"
        assert kit.tokens.due[connection_id] == T0 + timedelta(seconds=3600 - 300)

    async def test_an_entry_whose_connection_is_gone_leaves_the_schedule(self):
        kit = Kit()
        kit.tokens.due["uc_gone"] = T0
        assert await kit.refresher.scheduled(claim(kit, "uc_gone", T0)) is None
        assert "uc_gone" not in kit.tokens.due

    async def test_a_stale_entry_is_put_back_at_the_stored_token_due_time(self):
        kit = Kit()
        connection_id = kit.tokens.seed("alice", "acme", token(expires_in=3000))
        kit.tokens.due[connection_id] = T0  # e.g. a lease that came back after someone else refreshed
        outcome = await kit.refresher.scheduled(claim(kit, connection_id, T0))
        assert outcome is not None and outcome.status == "fresh" and kit.endpoint.calls == 0
        assert kit.tokens.due[connection_id] == T0 + timedelta(seconds=3000 - 300)

    async def test_a_scheduled_failure_is_rescheduled_not_raised(self):
        kit = Kit(settings=RefresherSettings(inline_attempts=1))
        connection_id = kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(500)
        assert await kit.refresher.scheduled(claim(kit, connection_id, T0)) is None
        assert kit.tokens.due[connection_id] > kit.clock.now()
        assert connection_id_of("alice", "acme") == connection_id


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class TestMetrics:
    async def test_a_refresh_and_a_dead_grant_are_counted_by_provider_outcome_and_class(self):
        refreshed_before = _sample("valetkey_refreshes_total", provider="acme", outcome="refreshed")
        dead_before = _sample("valetkey_refresh_failures_total", provider="acme", **{"class": "reauthorize"})
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(200, rotated())
        await kit.refresher.on_demand(ASK)
        dead = Kit()
        dead.tokens.seed("alice", "acme", token())
        dead.endpoint.then(400, {"error": "invalid_grant"})
        await dead.refresher.on_demand(ASK)
        assert (
            _sample("valetkey_refreshes_total", provider="acme", outcome="refreshed") == refreshed_before + 1
        )
        assert (
            _sample("valetkey_refresh_failures_total", provider="acme", **{"class": "reauthorize"})
            == dead_before + 1
        )

    async def test_a_refresh_the_provider_rejects_counts_as_rejected_not_as_transient(self):
        def failures(klass: str) -> float:
            return _sample("valetkey_refresh_failures_total", provider="acme", **{"class": klass})

        rejected_before, transient_before = failures("rejected"), failures("transient")
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(401, {"error": "invalid_client"})
        with pytest.raises(ProviderUnavailable):
            await kit.refresher.on_demand(ASK)
        assert (failures("rejected"), failures("transient")) == (rejected_before + 1, transient_before)

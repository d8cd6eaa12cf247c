"""The authorization use cases against in-memory ports."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import httpx
import pytest

from services.authorizer.authorizations import Authorizations
from services.authorizer.ports import StateClaim
from services.authorizer.session_settings import SessionVerification, VerificationChoice
from services.authorizer.sweeper import Sweeper
from shared.contracts.authorization import (
    AuthRequirement,
    ConfirmUser,
    GetAuthorization,
    OAuthCallback,
    StartAuthorization,
)
from shared.errors import InvalidGrant, NotFound, UserMismatch
from tests.unit.authorizer.fakes import Clock, make_authorizations, verifications_of


def replica_of(authorizations: Authorizations) -> Authorizations:
    """Another replica on the same ports: it started none of the flows."""
    return dataclasses.replace(authorizations)


def reads_of_states(authorizations: Authorizations) -> list[str]:
    """The states ``authorizations`` reads from its store from now on."""
    read: list[str] = []
    find = authorizations.store.find_state

    async def recorded(state: str):
        read.append(state)
        return await find(state)

    authorizations.store.find_state = recorded
    return read


def start_request(user="alice", scopes=("read",)) -> StartAuthorization:
    return StartAuthorization(
        user_id=user, requirement=AuthRequirement(provider_id="hooli", scopes=list(scopes))
    )


async def begin(authorizations, user="alice", scopes=("read",)):
    pending = await authorizations.start(start_request(user, scopes))
    return pending, httpx.URL(pending.url).params["state"]


class TestStart:
    async def test_without_a_token_a_pending_authorization_with_a_url_is_created(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        assert pending.status == "pending" and pending.id.startswith("ac_") and state

    async def test_a_token_covering_the_scopes_completes_at_once(self):
        authorizations = make_authorizations()
        _, state = await begin(authorizations)
        await authorizations.callback(OAuthCallback(state=state, code="c1"))
        again = await authorizations.start(start_request(scopes=()))
        assert again.status == "completed" and again.context.token == "token-for-c1"


class RecordingChoices:
    """A project's verification choice, in memory; it records which projects were read."""

    def __init__(self, choice):
        self.choice = choice
        self.read: list[str] = []

    async def get(self, project):
        self.read.append(project)
        return self.choice


def callback(state, code="c1", wait=0.0) -> OAuthCallback:
    return OAuthCallback(state=state, code=code, wait_seconds=wait)


async def status_of(authorizations, auth_id):
    return await authorizations.status(GetAuthorization(authorization_id=auth_id))


class TestCallback:
    async def test_a_second_callback_answers_with_the_first_ones_outcome(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        first = await authorizations.callback(callback(state))
        again = await authorizations.callback(callback(state))
        assert (first.status, again.status) == ("completed", "completed")
        assert authorizations.client.exchanged == ["c1"]
        assert (await status_of(authorizations, pending.id)).status == "completed"

    async def test_a_copy_arriving_during_the_exchange_waits_for_its_outcome(self):
        authorizations = make_authorizations()
        _, state = await begin(authorizations)
        authorizations.client.gate = asyncio.Event()
        first = asyncio.create_task(authorizations.callback(callback(state)))
        await asyncio.sleep(0.05)  # the first copy is inside the exchange
        second = asyncio.create_task(authorizations.callback(callback(state, wait=10)))
        await asyncio.sleep(0.3)
        assert not second.done()  # it waits rather than failing the flow
        authorizations.client.gate.set()
        outcomes = await asyncio.gather(first, second)
        assert [o.status for o in outcomes] == ["completed", "completed"]
        assert authorizations.client.exchanged == ["c1"]
        assert [e.type for e in authorizations.tokens.events] == ["authorization.completed"]
        assert authorizations.store.events == []  # no failure event at all

    async def test_a_copy_that_waited_its_time_answers_pending(self):
        authorizations = make_authorizations()
        _, state = await begin(authorizations)
        authorizations.client.gate = asyncio.Event()
        first = asyncio.create_task(authorizations.callback(callback(state)))
        await asyncio.sleep(0.05)
        second = await authorizations.callback(callback(state, wait=0.2))
        assert second.status == "pending"
        authorizations.client.gate.set()
        assert (await first).status == "completed"

    async def test_the_projects_verification_is_read_while_the_provider_exchanges_the_code(self):
        authorizations = make_authorizations()
        choices = RecordingChoices({"mode": "custom", "verifier_url": "https://verify.example.com/"})
        authorizations.sessions = SessionVerification(
            choices, default=VerificationChoice("unsafe_skip"), skip_allowed=True, test_ttl_seconds=600
        )
        _, state = await begin(authorizations)
        authorizations.client.gate = asyncio.Event()  # the provider has not answered yet
        first = asyncio.create_task(authorizations.callback(callback(state)))
        for _ in range(10):
            await asyncio.sleep(0)
        assert choices.read == ["default"]  # not a round trip of its own after the exchange
        authorizations.client.gate.set()
        outcome = await first
        assert outcome.status == "verify"  # and the choice it read is the one applied
        assert outcome.redirect_to.startswith("https://verify.example.com/")
        assert choices.read == ["default"]

    async def test_a_refused_code_fails_with_invalid_grant_and_stores_nothing(self):
        authorizations = make_authorizations()
        authorizations.client.error = InvalidGrant("nope")
        pending, state = await begin(authorizations)
        outcome = await authorizations.callback(callback(state))
        assert outcome.status == "failed"
        status = await status_of(authorizations, pending.id)
        assert (status.status, status.failure_reason) == ("failed", "invalid_grant")
        assert authorizations.tokens.tokens == {}
        assert [e.type for e in authorizations.store.events] == ["authorization.failed"]

    async def test_a_copy_of_a_failed_callback_shows_the_same_failure_and_adds_no_event(self):
        authorizations = make_authorizations()
        authorizations.client.error = InvalidGrant("nope")
        _, state = await begin(authorizations)
        await authorizations.callback(callback(state))
        again = await authorizations.callback(callback(state))
        assert again.status == "failed" and "refused" in again.message
        assert len(authorizations.store.events) == 1

    async def test_a_completion_event_is_written_with_the_token(self):
        authorizations = make_authorizations()
        _, state = await begin(authorizations)
        await authorizations.callback(callback(state))
        assert [e.type for e in authorizations.tokens.events] == ["authorization.completed"]
        assert [e.type for e in authorizations.notifier.events] == ["authorization.completed"]

    async def test_the_outcome_carries_the_completed_authorization_for_the_gateways_waiters(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        outcome = await authorizations.callback(callback(state))
        done = outcome.authorization
        assert (done.id, done.status, done.context.token) == (pending.id, "completed", "token-for-c1")
        assert done == await status_of(authorizations, pending.id)

    async def test_the_record_is_completed_before_anyone_is_woken(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        seen, wake = [], authorizations.notifier.wake

        def wake_and_look(events=()):
            seen.append(authorizations.store.records[pending.id].status)
            wake(events)

        authorizations.notifier.wake = wake_and_look
        await authorizations.callback(callback(state))
        assert seen == ["completed"]

    async def test_a_state_stored_without_its_record_reads_the_record(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        [(digest, claim)] = authorizations.store.states.items()
        # as an older version stored it: the ids only
        authorizations.store.states[digest] = StateClaim(claim.authorization_id, claim.provider_id)
        assert (await replica_of(authorizations).callback(callback(state))).status == "completed"
        done = await status_of(authorizations, pending.id)
        assert done.context.token == "token-for-c1"


class TestCallbackOfAFlowStartedHere:
    async def test_it_is_claimed_without_reading_its_state(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        read = reads_of_states(authorizations)
        assert (await authorizations.callback(callback(state))).status == "completed"
        assert read == [] and authorizations.client.exchanged == ["c1"]
        assert (await status_of(authorizations, pending.id)).status == "completed"

    async def test_another_replica_reads_the_state_and_completes_it(self):
        authorizations = make_authorizations()
        _, state = await begin(authorizations)
        other = replica_of(authorizations)
        read = reads_of_states(other)
        assert (await other.callback(callback(state))).status == "completed"
        assert len(read) == 1

    async def test_a_copy_at_the_starting_replica_after_another_replicas_answers_like_it(self):
        authorizations = make_authorizations()
        _, state = await begin(authorizations)
        first = await replica_of(authorizations).callback(callback(state))
        again = await authorizations.callback(callback(state))
        assert (first.status, again.status) == ("completed", "completed")
        assert authorizations.client.exchanged == ["c1"]

    async def test_once_its_state_expired_it_fails_as_expired_and_exchanges_nothing(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        authorizations.store.states.clear()  # the state's TTL ran out; its reference lives on
        assert (await authorizations.callback(callback(state))).status == "failed"
        status = await status_of(authorizations, pending.id)
        assert (status.status, status.failure_reason) == ("failed", "state_expired")
        assert authorizations.client.exchanged == []

    async def test_a_denied_consent_fails_the_flow_as_before(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        denied = await authorizations.callback(OAuthCallback(state=state, error="access_denied"))
        status = await status_of(authorizations, pending.id)
        assert (denied.status, status.failure_reason) == ("failed", "access_denied")
        assert authorizations.client.exchanged == []


class TestSweeper:
    async def test_an_exchange_left_past_its_deadline_fails_once_as_interrupted(self):
        clock = Clock()
        authorizations = make_authorizations(clock=clock)
        pending, state = await begin(authorizations)
        authorizations.client.gate = asyncio.Event()  # the exchange never returns: a crash
        stranded = asyncio.create_task(authorizations.callback(callback(state)))
        await asyncio.sleep(0.05)
        sweepers = [Sweeper(authorizations, interval=1), Sweeper(authorizations, interval=1)]
        assert [await s.sweep() for s in sweepers] == [0, 0]  # not overdue yet
        clock.now += timedelta(seconds=authorizations.settings.exchange_deadline_seconds + 1)
        assert sorted([await s.sweep() for s in sweepers]) == [0, 1]
        status = await status_of(authorizations, pending.id)
        assert (status.status, status.failure_reason) == ("failed", "exchange_interrupted")
        reload = await authorizations.callback(callback(state))
        assert reload.status == "failed" and "interrupted" in reload.message
        authorizations.client.gate.set()  # the "dead" exchange comes back late: it stores nothing
        assert (await stranded).status == "failed"
        assert authorizations.tokens.tokens == {}
        assert [e.reason for e in authorizations.store.events] == ["exchange_interrupted"]

    async def test_a_verification_nobody_confirms_expires(self):
        clock = Clock()
        authorizations = make_authorizations("builtin", clock=clock)
        pending, state = await begin(authorizations)
        await authorizations.callback(callback(state))
        clock.now += timedelta(seconds=authorizations.settings.state_ttl_seconds + 1)
        assert await Sweeper(authorizations, interval=1).sweep() == 1
        assert (await status_of(authorizations, pending.id)).failure_reason == "verification_expired"


class TestVerification:
    async def test_the_token_is_held_until_the_same_user_confirms(self):
        authorizations = make_authorizations("builtin")
        pending, state = await begin(authorizations)
        outcome = await authorizations.callback(callback(state))
        assert outcome.status == "verify" and outcome.redirect_to.startswith(
            "http://gw/oauth/verify?flow_id="
        )
        assert authorizations.tokens.tokens == {}
        verifications = verifications_of(authorizations)
        result = await verifications.confirm_user(ConfirmUser(flow_id=outcome.flow_id, user_id="alice"))
        assert result.auth_id == pending.id
        assert ("alice", "hooli") in authorizations.tokens.tokens
        assert result.authorization.status == "completed" and result.authorization.context.token

    async def test_a_reload_of_the_callback_leads_to_the_same_verification_step(self):
        authorizations = make_authorizations("builtin")
        _, state = await begin(authorizations)
        first = await authorizations.callback(callback(state))
        reload = await authorizations.callback(callback(state))
        assert (reload.status, reload.redirect_to) == ("verify", first.redirect_to)
        assert authorizations.client.exchanged == ["c1"]

    async def test_a_second_confirmation_answers_like_the_first_and_stores_nothing_more(self):
        authorizations = make_authorizations("builtin")
        pending, state = await begin(authorizations)
        outcome = await authorizations.callback(callback(state))
        verifications = verifications_of(authorizations)
        confirm = ConfirmUser(flow_id=outcome.flow_id, user_id="alice")
        first, second = await asyncio.gather(
            verifications.confirm_user(confirm), verifications.confirm_user(confirm)
        )
        assert (first.auth_id, second.auth_id) == (pending.id, pending.id)
        assert [e.type for e in authorizations.tokens.events] == ["authorization.completed"]

    async def test_another_user_is_refused_and_nothing_is_stored(self):
        authorizations = make_authorizations("custom")
        authorizations.settings = authorizations.settings.__class__(
            **{**authorizations.settings.__dict__, "verifier_url": "https://app/v"}
        )
        pending, state = await begin(authorizations)
        outcome = await authorizations.callback(callback(state))
        verifications = verifications_of(authorizations)
        with pytest.raises(UserMismatch):
            await verifications.confirm_user(ConfirmUser(flow_id=outcome.flow_id, user_id="mallory"))
        assert authorizations.tokens.tokens == {}
        assert (await status_of(authorizations, pending.id)).status == "failed"
        with pytest.raises(NotFound):
            await verifications.confirm_user(ConfirmUser(flow_id=outcome.flow_id, user_id="alice"))


class TestProjects:
    async def test_another_projects_key_reads_an_authorization_as_not_found(self):
        authorizations = make_authorizations()
        pending = await authorizations.start(start_request().model_copy(update={"project": "a"}))
        assert (await authorizations.status(GetAuthorization(authorization_id=pending.id, project="a"))).id
        with pytest.raises(NotFound):
            await authorizations.status(GetAuthorization(authorization_id=pending.id, project="b"))

    async def test_another_projects_key_cannot_confirm_a_flow_but_the_browser_page_can(self):
        authorizations = make_authorizations("builtin")
        pending = await authorizations.start(start_request().model_copy(update={"project": "a"}))
        state = httpx.URL(pending.url).params["state"]
        outcome = await authorizations.callback(callback(state))
        verifications = verifications_of(authorizations)
        with pytest.raises(NotFound):
            await verifications.confirm_user(
                ConfirmUser(flow_id=outcome.flow_id, user_id="alice", project="b")
            )
        page = ConfirmUser(flow_id=outcome.flow_id, user_id="alice", project=None)
        assert (await verifications.confirm_user(page)).authorization.status == "completed"

"""The authorization use cases against in-memory ports."""

from __future__ import annotations

import httpx
import pytest

from services.authorizer.ports import StateClaim
from shared.contracts.authorization import (
    AuthRequirement,
    ConfirmUser,
    GetAuthorization,
    OAuthCallback,
    StartAuthorization,
)
from shared.errors import InvalidGrant, NotFound, UserMismatch
from tests.unit.authorizer.fakes import make_flows


def start_request(user="alice", scopes=("read",)) -> StartAuthorization:
    return StartAuthorization(
        user_id=user, requirement=AuthRequirement(provider_id="hooli", scopes=list(scopes))
    )


async def begin(flows, user="alice", scopes=("read",)):
    pending = await flows.start(start_request(user, scopes))
    return pending, httpx.URL(pending.url).params["state"]


class TestStart:
    async def test_without_a_token_a_pending_authorization_with_a_url_is_created(self):
        flows = make_flows()
        pending, state = await begin(flows)
        assert pending.status == "pending" and pending.id.startswith("ac_") and state

    async def test_a_token_covering_the_scopes_completes_at_once(self):
        flows = make_flows()
        _, state = await begin(flows)
        await flows.callback(OAuthCallback(state=state, code="c1"))
        again = await flows.start(start_request(scopes=()))
        assert again.status == "completed" and again.context.token == "token-for-c1"


class TestCallback:
    async def test_a_state_is_exchanged_once_and_a_replay_leaves_the_completion_alone(self):
        flows = make_flows()
        pending, state = await begin(flows)
        first = await flows.callback(OAuthCallback(state=state, code="c1"))
        replay = await flows.callback(OAuthCallback(state=state, code="c1"))
        assert (first.status, replay.status) == ("completed", "failed")
        assert flows.client.exchanged == ["c1"]
        assert (await flows.status(GetAuthorization(authorization_id=pending.id))).status == "completed"

    async def test_a_refused_code_fails_with_invalid_grant_and_stores_nothing(self):
        flows = make_flows()
        flows.client.error = InvalidGrant("nope")
        pending, state = await begin(flows)
        outcome = await flows.callback(OAuthCallback(state=state, code="c1"))
        assert outcome.status == "failed"
        status = await flows.status(GetAuthorization(authorization_id=pending.id))
        assert (status.status, status.failure_reason) == ("failed", "invalid_grant")
        assert flows.tokens.tokens == {}
        assert [e.type for e in flows.store.events] == ["authorization.failed"]

    async def test_a_completion_event_is_written_with_the_token(self):
        flows = make_flows()
        _, state = await begin(flows)
        await flows.callback(OAuthCallback(state=state, code="c1"))
        await flows.later.settle()
        assert [e.type for e in flows.tokens.events] == ["authorization.completed"]
        assert [e.type for e in flows.notifier.events] == ["authorization.completed"]

    async def test_the_outcome_carries_the_completed_authorization_for_the_gateways_waiters(self):
        flows = make_flows()
        pending, state = await begin(flows)
        outcome = await flows.callback(OAuthCallback(state=state, code="c1"))
        done = outcome.authorization
        assert (done.id, done.status, done.context.token) == (pending.id, "completed", "token-for-c1")
        assert done == await flows.status(GetAuthorization(authorization_id=pending.id))

    async def test_the_record_is_marked_completed_and_announced_after_the_reply(self):
        flows = make_flows()
        pending, state = await begin(flows)
        seen, wake = [], flows.notifier.wake

        def wake_and_look(events=()):
            seen.append(flows.store.records[pending.id].status)
            wake(events)

        flows.notifier.wake = wake_and_look
        await flows.callback(OAuthCallback(state=state, code="c1"))
        assert seen == [] and flows.store.records[pending.id].stage == "storing"  # the reply goes first
        await flows.later.settle()
        assert seen == ["completed"]

    async def test_a_state_stored_without_its_record_reads_the_record(self):
        flows = make_flows()
        pending, state = await begin(flows)
        [(digest, claim)] = flows.store.states.items()
        # as an older version stored it: the ids only
        flows.store.states[digest] = StateClaim(claim.authorization_id, claim.provider_id)
        assert (await flows.callback(OAuthCallback(state=state, code="c1"))).status == "completed"
        done = await flows.status(GetAuthorization(authorization_id=pending.id))
        assert done.context.token == "token-for-c1"


class TestVerification:
    async def test_the_token_is_held_until_the_same_user_confirms(self):
        flows = make_flows("builtin")
        pending, state = await begin(flows)
        outcome = await flows.callback(OAuthCallback(state=state, code="c1"))
        assert outcome.status == "verify" and outcome.redirect_to.startswith(
            "http://gw/oauth/verify?flow_id="
        )
        assert flows.tokens.tokens == {}
        result = await flows.confirm_user(ConfirmUser(flow_id=outcome.flow_id, user_id="alice"))
        assert result.auth_id == pending.id
        assert ("alice", "hooli") in flows.tokens.tokens
        assert result.authorization.status == "completed" and result.authorization.context.token

    async def test_another_user_is_refused_and_nothing_is_stored(self):
        flows = make_flows("custom")
        flows.settings = flows.settings.__class__(
            **{**flows.settings.__dict__, "verifier_url": "https://app/v"}
        )
        pending, state = await begin(flows)
        outcome = await flows.callback(OAuthCallback(state=state, code="c1"))
        with pytest.raises(UserMismatch):
            await flows.confirm_user(ConfirmUser(flow_id=outcome.flow_id, user_id="mallory"))
        assert flows.tokens.tokens == {}
        assert (await flows.status(GetAuthorization(authorization_id=pending.id))).status == "failed"
        with pytest.raises(NotFound):
            await flows.confirm_user(ConfirmUser(flow_id=outcome.flow_id, user_id="alice"))

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
from tests.unit.authorizer.fakes import make_authorizations


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


class TestCallback:
    async def test_a_state_is_exchanged_once_and_a_replay_leaves_the_completion_alone(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        first = await authorizations.callback(OAuthCallback(state=state, code="c1"))
        replay = await authorizations.callback(OAuthCallback(state=state, code="c1"))
        assert (first.status, replay.status) == ("completed", "failed")
        assert authorizations.client.exchanged == ["c1"]
        assert (
            await authorizations.status(GetAuthorization(authorization_id=pending.id))
        ).status == "completed"

    async def test_a_refused_code_fails_with_invalid_grant_and_stores_nothing(self):
        authorizations = make_authorizations()
        authorizations.client.error = InvalidGrant("nope")
        pending, state = await begin(authorizations)
        outcome = await authorizations.callback(OAuthCallback(state=state, code="c1"))
        assert outcome.status == "failed"
        status = await authorizations.status(GetAuthorization(authorization_id=pending.id))
        assert (status.status, status.failure_reason) == ("failed", "invalid_grant")
        assert authorizations.tokens.tokens == {}
        assert [e.type for e in authorizations.store.events] == ["authorization.failed"]

    async def test_a_completion_event_is_written_with_the_token(self):
        authorizations = make_authorizations()
        _, state = await begin(authorizations)
        await authorizations.callback(OAuthCallback(state=state, code="c1"))
        await authorizations.later.settle()
        assert [e.type for e in authorizations.tokens.events] == ["authorization.completed"]
        assert [e.type for e in authorizations.notifier.events] == ["authorization.completed"]

    async def test_the_outcome_carries_the_completed_authorization_for_the_gateways_waiters(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        outcome = await authorizations.callback(OAuthCallback(state=state, code="c1"))
        done = outcome.authorization
        assert (done.id, done.status, done.context.token) == (pending.id, "completed", "token-for-c1")
        assert done == await authorizations.status(GetAuthorization(authorization_id=pending.id))

    async def test_the_record_is_marked_completed_and_announced_after_the_reply(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        seen, wake = [], authorizations.notifier.wake

        def wake_and_look(events=()):
            seen.append(authorizations.store.records[pending.id].status)
            wake(events)

        authorizations.notifier.wake = wake_and_look
        await authorizations.callback(OAuthCallback(state=state, code="c1"))
        assert (
            seen == [] and authorizations.store.records[pending.id].stage == "storing"
        )  # the reply goes first
        await authorizations.later.settle()
        assert seen == ["completed"]

    async def test_a_state_stored_without_its_record_reads_the_record(self):
        authorizations = make_authorizations()
        pending, state = await begin(authorizations)
        [(digest, claim)] = authorizations.store.states.items()
        # as an older version stored it: the ids only
        authorizations.store.states[digest] = StateClaim(claim.authorization_id, claim.provider_id)
        assert (await authorizations.callback(OAuthCallback(state=state, code="c1"))).status == "completed"
        done = await authorizations.status(GetAuthorization(authorization_id=pending.id))
        assert done.context.token == "token-for-c1"


class TestVerification:
    async def test_the_token_is_held_until_the_same_user_confirms(self):
        authorizations = make_authorizations("builtin")
        pending, state = await begin(authorizations)
        outcome = await authorizations.callback(OAuthCallback(state=state, code="c1"))
        assert outcome.status == "verify" and outcome.redirect_to.startswith(
            "http://gw/oauth/verify?flow_id="
        )
        assert authorizations.tokens.tokens == {}
        result = await authorizations.confirm_user(ConfirmUser(flow_id=outcome.flow_id, user_id="alice"))
        assert result.auth_id == pending.id
        assert ("alice", "hooli") in authorizations.tokens.tokens
        assert result.authorization.status == "completed" and result.authorization.context.token

    async def test_another_user_is_refused_and_nothing_is_stored(self):
        authorizations = make_authorizations("custom")
        authorizations.settings = authorizations.settings.__class__(
            **{**authorizations.settings.__dict__, "verifier_url": "https://app/v"}
        )
        pending, state = await begin(authorizations)
        outcome = await authorizations.callback(OAuthCallback(state=state, code="c1"))
        with pytest.raises(UserMismatch):
            await authorizations.confirm_user(ConfirmUser(flow_id=outcome.flow_id, user_id="mallory"))
        assert authorizations.tokens.tokens == {}
        assert (await authorizations.status(GetAuthorization(authorization_id=pending.id))).status == "failed"
        with pytest.raises(NotFound):
            await authorizations.confirm_user(ConfirmUser(flow_id=outcome.flow_id, user_id="alice"))

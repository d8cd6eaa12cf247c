"""The status the gateway may repeat: a completed authorization until its token falls due, never
a pending one."""

from __future__ import annotations

from datetime import timedelta

import httpx

from shared.bus.answers import Cacheable
from shared.contracts.authorization import (
    AuthRequirement,
    GetAuthorization,
    OAuthCallback,
    StartAuthorization,
)
from tests.unit.authorizer.fakes import Clock, make_authorizations


async def pending_and_state(authorizations):
    start = StartAuthorization(user_id="alice", requirement=AuthRequirement(provider_id="hooli"))
    pending = await authorizations.start(start)
    return pending, httpx.URL(pending.url).params["state"]


async def answer_of(authorizations, auth_id):
    return await authorizations.answer_status(GetAuthorization(authorization_id=auth_id))


async def test_a_pending_authorization_is_never_cacheable():
    authorizations = make_authorizations()
    pending, _ = await pending_and_state(authorizations)
    answer = await answer_of(authorizations, pending.id)
    assert not isinstance(answer, Cacheable) and answer.status == "pending"


async def test_a_completed_one_whose_token_never_expires_is_cacheable_without_a_limit():
    authorizations = make_authorizations()
    pending, state = await pending_and_state(authorizations)
    await authorizations.callback(OAuthCallback(state=state, code="c1"))
    answer = await answer_of(authorizations, pending.id)
    assert isinstance(answer, Cacheable) and answer.fresh_until is None
    assert answer.result == await authorizations.status(GetAuthorization(authorization_id=pending.id))


async def test_a_completed_one_is_cacheable_until_its_token_falls_due_and_not_once_it_has():
    clock = Clock()
    authorizations = make_authorizations(clock=clock)
    pending, state = await pending_and_state(authorizations)
    await authorizations.callback(OAuthCallback(state=state, code="c1"))
    key = ("alice", "hooli")
    token = authorizations.tokens.tokens[key]
    issued = clock.now
    expiring = token.model_copy(update={"issued_at": issued, "expires_at": issued + timedelta(hours=1)})
    authorizations.tokens.tokens[key] = expiring
    answer = await answer_of(authorizations, pending.id)
    assert isinstance(answer, Cacheable)
    assert answer.fresh_until == issued + timedelta(minutes=55)
    clock.now += timedelta(minutes=56)  # due: a read that could not refresh it is not repeated
    assert not isinstance(await answer_of(authorizations, pending.id), Cacheable)

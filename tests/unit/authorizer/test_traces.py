"""One authorization is one trace: the work of its callback and of its verification resumes
the trace of its start (kept in the record), linked to the request that set it off."""

from __future__ import annotations

import httpx

from services.authorizer.sign_in import SignIns
from shared.contracts.authorization import (
    AuthRequirement,
    ConfirmUser,
    FlowRef,
    OAuthCallback,
    StartAuthorization,
    VerifyCallback,
)
from shared.runtime import tracing
from shared.runtime.config import OidcVerifierConfig
from tests.unit.authorizer.fakes import ISSUER, FakeSignInProvider, make_authorizations, verifications_of

START = StartAuthorization(user_id="alice", requirement=AuthRequirement(provider_id="hooli", scopes=["read"]))


async def started(authorizations):
    """Start an authorization inside a request span; (its state, the span)."""
    with tracing.span("process vk.auth.start") as request:
        pending = await authorizations.start(START)
    return httpx.URL(pending.url).params["state"], request


def named(exported, name):
    (span,) = [s for s in exported.get_finished_spans() if s.name == name]
    return span


def resumes(span, start, request) -> bool:
    """``span`` is a child of the start's span and links to ``request``'s span, in another trace."""
    return (
        span.parent.span_id == start.get_span_context().span_id
        and span.get_span_context().trace_id == start.get_span_context().trace_id
        and [link.context for link in span.links] == [request.get_span_context()]
    )


async def test_the_callbacks_work_resumes_the_trace_of_the_start(exported):
    authorizations = make_authorizations()
    state, start = await started(authorizations)
    with tracing.span("process vk.auth.callback") as request:
        outcome = await authorizations.callback(OAuthCallback(state=state, code="c1", wait_seconds=0))
    assert outcome.status == "completed"
    work = named(exported, "authorization.callback")
    assert resumes(work, start, request)
    assert work.attributes["valetkey.authorization_id"] == outcome.authorization_id
    assert "alice" not in str(dict(work.attributes))


async def test_a_confirmation_resumes_the_trace_of_the_start(exported):
    authorizations = make_authorizations("builtin")
    state, start = await started(authorizations)
    outcome = await authorizations.callback(OAuthCallback(state=state, code="c1", wait_seconds=0))
    with tracing.span("process vk.auth.confirm_user") as request:
        await verifications_of(authorizations).confirm_user(
            ConfirmUser(flow_id=outcome.flow_id, user_id="alice")
        )
    assert ("alice", "hooli") in authorizations.tokens.tokens
    assert resumes(named(exported, "authorization.confirm_user"), start, request)


async def test_an_oidc_sign_in_resumes_the_trace_of_the_start_and_confirms_inside_it(exported):
    authorizations = make_authorizations("oidc")
    provider = FakeSignInProvider()
    config = OidcVerifierConfig(issuer=ISSUER, client_id="valetkey", client_secret="s")
    sign_ins = SignIns(verifications_of(authorizations), provider, config, "http://gw/oauth/verify/callback")
    state, start = await started(authorizations)
    outcome = await authorizations.callback(OAuthCallback(state=state, code="c1", wait_seconds=0))
    to = await sign_ins.begin(FlowRef(flow_id=outcome.flow_id))
    provider.nonce = httpx.URL(to.redirect_to).params["nonce"]
    with tracing.span("process vk.auth.verify_callback") as request:
        done = await sign_ins.callback(VerifyCallback(state=outcome.flow_id, code="s1", iss=ISSUER))
    assert done.status == "completed"
    work = named(exported, "authorization.verify_callback")
    assert resumes(work, start, request)
    confirmed = named(exported, "authorization.confirm_user")
    assert confirmed.parent.span_id == work.get_span_context().span_id and not confirmed.links


async def test_with_tracing_off_the_record_keeps_no_trace_context():
    authorizations = make_authorizations()
    pending = await authorizations.start(START)
    assert (await authorizations.store.get(pending.id)).traceparent is None

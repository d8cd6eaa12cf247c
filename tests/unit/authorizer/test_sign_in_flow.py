"""The ``oidc`` verification's use cases: a held token is stored only for a sign-in by its own user."""

from __future__ import annotations

from typing import Any

import httpx

from services.authorizer.sign_in import SignIns
from shared.contracts.authorization import (
    AuthRequirement,
    FlowRef,
    GetAuthorization,
    OAuthCallback,
    StartAuthorization,
    VerifyCallback,
)
from shared.providers.oauth import code_challenge_s256
from shared.runtime.config import OidcVerifierConfig
from tests.unit.authorizer.fakes import ISSUER, FakeSignInProvider, make_authorizations, verifications_of


async def held_flow(sign_in_provider: FakeSignInProvider) -> tuple[SignIns, str, str, str]:
    """An authorization for alice, consented and waiting for the sign-in: (use cases, its id,
    its flow id, the URL the browser is sent to)."""
    authorizations = make_authorizations("oidc")
    config = OidcVerifierConfig(issuer=ISSUER, client_id="valetkey", client_secret="s")
    sign_ins = SignIns(
        verifications_of(authorizations), sign_in_provider, config, "http://gw/oauth/verify/callback"
    )
    pending = await authorizations.start(
        StartAuthorization(user_id="alice", requirement=AuthRequirement(id="hooli", scopes=["read"]))
    )
    state = httpx.URL(pending.url or "").params["state"]
    outcome = await authorizations.callback(OAuthCallback(state=state, code="c1", wait_seconds=0))
    assert outcome.status == "verify" and outcome.flow_id
    to = await sign_ins.begin(FlowRef(flow_id=outcome.flow_id))
    assert to.status == "verify" and to.redirect_to
    sign_in_provider.nonce = httpx.URL(to.redirect_to).params["nonce"]
    return sign_ins, pending.id or "", outcome.flow_id, to.redirect_to


async def status(sign_ins: SignIns, auth_id: str) -> tuple[str, str | None]:
    now = await sign_ins.verifications.authorizations.status(GetAuthorization(authorization_id=auth_id))
    return now.status, now.failure_reason


def tokens(sign_ins: SignIns) -> dict[Any, Any]:
    return dict(sign_ins.verifications.authorizations.tokens.tokens)


async def test_the_browser_is_sent_to_sign_in_with_the_flow_as_state_and_a_pkce_challenge():
    _, _, flow_id, url = await held_flow(FakeSignInProvider())
    params = httpx.URL(url).params
    assert url.startswith(f"{ISSUER}/auth?") and params["state"] == flow_id
    assert (
        params["redirect_uri"] == "http://gw/oauth/verify/callback"
        and params["code_challenge_method"] == "S256"
    )


async def test_the_flows_own_user_signing_in_stores_the_token_with_the_pkce_verifier_used():
    provider = FakeSignInProvider()
    sign_ins, auth_id, flow_id, url = await held_flow(provider)
    outcome = await sign_ins.callback(VerifyCallback(state=flow_id, code="sc"))
    assert outcome.status == "completed" and outcome.authorization and outcome.authorization.context
    assert await status(sign_ins, auth_id) == ("completed", None)
    assert ("alice", "hooli") in tokens(sign_ins)
    code, verifier = provider.codes[0]
    assert code == "sc" and code_challenge_s256(verifier) == httpx.URL(url).params["code_challenge"]


async def test_another_user_signing_in_fails_the_flow_and_stores_nothing():
    provider = FakeSignInProvider()
    sign_ins, auth_id, flow_id, _ = await held_flow(provider)
    provider.signed_in = "mallory"
    outcome = await sign_ins.callback(VerifyCallback(state=flow_id, code="sc"))
    assert outcome.status == "failed" and "not the user" in outcome.message
    assert await status(sign_ins, auth_id) == ("failed", "user_mismatch")
    assert tokens(sign_ins) == {}
    # The flow is spent: its own user signing in afterwards changes nothing.
    provider.signed_in = "alice"
    assert (await sign_ins.callback(VerifyCallback(state=flow_id, code="again"))).status == "failed"
    assert tokens(sign_ins) == {}


async def test_a_token_for_another_sign_in_is_refused_and_the_flow_keeps_waiting():
    provider = FakeSignInProvider()
    sign_ins, auth_id, flow_id, _ = await held_flow(provider)
    provider.nonce = "another-sign-ins-nonce"
    outcome = await sign_ins.callback(VerifyCallback(state=flow_id, code="sc"))
    assert outcome.status == "failed" and "could not be checked" in outcome.message
    assert await status(sign_ins, auth_id) == ("pending", None)
    assert tokens(sign_ins) == {}


async def test_a_code_the_provider_refuses_or_another_issuer_leaves_the_flow_waiting():
    provider = FakeSignInProvider()
    sign_ins, auth_id, flow_id, _ = await held_flow(provider)
    provider.refuse = True
    assert (await sign_ins.callback(VerifyCallback(state=flow_id, code="sc"))).status == "failed"
    provider.refuse = False
    mixed_up = VerifyCallback(state=flow_id, code="sc", iss="https://evil.example")
    assert (await sign_ins.callback(mixed_up)).status == "failed"
    assert await status(sign_ins, auth_id) == ("pending", None)
    assert (
        await sign_ins.callback(VerifyCallback(state=flow_id, code="sc", iss=ISSUER))
    ).status == "completed"


async def test_a_second_copy_of_a_completed_sign_in_answers_completed_without_a_token():
    provider = FakeSignInProvider()
    sign_ins, _, flow_id, _ = await held_flow(provider)
    await sign_ins.callback(VerifyCallback(state=flow_id, code="sc"))
    again = await sign_ins.callback(VerifyCallback(state=flow_id, code="sc"))
    assert again.status == "completed" and again.authorization is None
    assert len(provider.codes) == 1


async def test_an_unknown_state_names_no_authorization():
    outcome = await (await held_flow(FakeSignInProvider()))[0].callback(
        VerifyCallback(state="nope", code="c")
    )
    assert outcome.status == "failed" and outcome.authorization_id is None

"""The ``oidc`` verification's checks: the ID token (signature, issuer, audience, expiry) and
whether its nonce and user claim confirm the flow's user."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from services.authorizer import domain
from services.authorizer.oidc_sign_in import OidcSignIn
from shared.errors import InvalidGrant, ProviderError
from shared.providers.http import ProviderResponse
from shared.providers.oauth import HttpRequestSpec, code_challenge_s256
from shared.runtime.config import OidcVerifierConfig

ISSUER = "https://login.example.com"
NONCE = "n-0123456789"


class TestSignInMismatch:
    def test_the_flows_own_user_with_the_flows_nonce_is_confirmed(self):
        claims = {"sub": "alice", "nonce": NONCE}
        assert domain.sign_in_mismatch(claims, nonce=NONCE, user_claim="sub", user_id="alice") is None

    def test_another_user_is_a_mismatch(self):
        claims = {"sub": "mallory", "nonce": NONCE}
        assert (
            domain.sign_in_mismatch(claims, nonce=NONCE, user_claim="sub", user_id="alice") == "user_mismatch"
        )

    def test_a_token_without_the_configured_claim_confirms_nobody(self):
        claims = {"sub": "alice", "nonce": NONCE}
        reason = domain.sign_in_mismatch(claims, nonce=NONCE, user_claim="email", user_id="alice")
        assert reason == "user_mismatch"

    def test_the_configured_claim_is_the_one_compared(self):
        claims = {"sub": "123", "email": "alice@example.com", "nonce": NONCE}
        assert (
            domain.sign_in_mismatch(claims, nonce=NONCE, user_claim="email", user_id="alice@example.com")
            is None
        )
        assert domain.sign_in_mismatch(claims, nonce=NONCE, user_claim="sub", user_id="alice@example.com")

    @pytest.mark.parametrize("nonce", [None, "another-nonce", 7])
    def test_a_token_with_another_or_no_nonce_is_refused_before_its_user_is_looked_at(self, nonce):
        claims: dict[str, Any] = {"sub": "alice"} | ({} if nonce is None else {"nonce": nonce})
        assert (
            domain.sign_in_mismatch(claims, nonce=NONCE, user_claim="sub", user_id="alice")
            == "nonce_mismatch"
        )

    def test_a_flow_without_a_nonce_confirms_nothing(self):
        claims = {"sub": "alice", "nonce": ""}
        assert (
            domain.sign_in_mismatch(claims, nonce=None, user_claim="sub", user_id="alice") == "nonce_mismatch"
        )


def test_the_sign_in_url_asks_for_a_code_with_the_flow_as_state_the_nonce_and_s256():
    url = domain.sign_in_url(
        f"{ISSUER}/auth?tenant=t",
        client_id="valetkey",
        redirect_uri="https://vk.example/oauth/verify/callback",
        scopes=["openid", "email"],
        flow_id="flow-1",
        nonce=NONCE,
        challenge=code_challenge_s256("v" * 43),
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query == {
        "tenant": "t",
        "response_type": "code",
        "client_id": "valetkey",
        "redirect_uri": "https://vk.example/oauth/verify/callback",
        "scope": "openid email",
        "state": "flow-1",
        "nonce": NONCE,
        "code_challenge": code_challenge_s256("v" * 43),
        "code_challenge_method": "S256",
    }


# --- the ID token's check, against an OpenID provider answered in memory ------------------

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "RS256", "use": "sig"}


class FakeIssuer:
    """Discovery, JWKS and a token endpoint answering one ID token, at the HTTP level."""

    def __init__(self, id_token: str, *, token_status: int = 200) -> None:
        self.id_token = id_token
        self.token_status = token_status
        self.sent: list[HttpRequestSpec] = []

    async def send(self, spec: HttpRequestSpec, *, timeout: float) -> ProviderResponse:
        self.sent.append(spec)
        bodies = {
            f"{ISSUER}/.well-known/openid-configuration": (
                200,
                {
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/auth",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            ),
            f"{ISSUER}/jwks": (200, {"keys": [public_jwk(KEY, "k1")]}),
            f"{ISSUER}/token": (self.token_status, {"id_token": self.id_token, "access_token": "at"}),
        }
        status, body = bodies[spec.url]
        return ProviderResponse(status, "application/json", json.dumps(body).encode())


def id_token(key: Any = KEY, kid: str = "k1", algorithm: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "valetkey", "sub": "alice", "nonce": NONCE, "iat": now, "exp": now + 300}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def sign_in(issuer: FakeIssuer) -> OidcSignIn:
    config = OidcVerifierConfig(issuer=ISSUER, client_id="valetkey", client_secret="platform-secret")
    return OidcSignIn(config, issuer, redirect_uri="https://vk.example/cb", timeout=5)  # type: ignore[arg-type]


async def test_a_token_signed_by_the_issuers_key_for_this_client_gives_its_claims():
    issuer = FakeIssuer(id_token())
    claims = await sign_in(issuer).claims(code="c", code_verifier="v")
    assert claims["sub"] == "alice" and claims["nonce"] == NONCE
    exchange = next(s for s in issuer.sent if s.url.endswith("/token"))
    assert exchange.form == {
        "grant_type": "authorization_code",
        "code": "c",
        "redirect_uri": "https://vk.example/cb",
        "code_verifier": "v",
    }
    assert exchange.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(id_token(key=OTHER_KEY), id="signed by another key"),
        pytest.param(id_token(kid="unknown"), id="naming a key the issuer does not publish"),
        pytest.param(id_token(iss="https://evil.example"), id="from another issuer"),
        pytest.param(id_token(aud="another-client"), id="for another client"),
        pytest.param(id_token(exp=int(time.time()) - 3600), id="expired"),
        pytest.param(id_token(exp=None), id="without an expiry"),
        pytest.param(id_token(key="a-shared-secret-of-32-characters!", algorithm="HS256"), id="HMAC"),
        pytest.param(id_token()[:-4] + "AAAA", id="with a changed signature"),
    ],
)
async def test_a_token_that_does_not_check_out_is_refused(token: str):
    with pytest.raises(ProviderError, match="ID token is not valid"):
        await sign_in(FakeIssuer(token)).claims(code="c", code_verifier="v")


async def test_a_code_the_provider_refuses_is_an_invalid_grant():
    with pytest.raises(InvalidGrant):
        await sign_in(FakeIssuer(id_token(), token_status=400)).claims(code="c", code_verifier="v")

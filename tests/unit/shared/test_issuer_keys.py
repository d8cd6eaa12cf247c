"""An issuer's signing keys: fetched at first need, fetched again for a key id not seen (a
rotation), but not for every made-up key id, and never a key that is not for signatures."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.runtime.jwks import IssuerKeys


def public_jwk(kid: str, **extra: Any) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256", **extra}


class Issuer:
    """Serves a JWKS that a test can change, and counts how often it was read."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys, self.fetches, self.now = list(keys), 0, 1000.0

    async def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": self.keys}


async def test_the_keys_are_fetched_once_for_every_token_naming_a_known_key():
    issuer = Issuer(public_jwk("k1"))
    keys = IssuerKeys(issuer.jwks, clock=lambda: issuer.now)
    for _ in range(3):
        assert (await keys.key("k1")).key_id == "k1"
    assert issuer.fetches == 1


async def test_a_rotated_key_is_found_once_the_refetch_interval_has_passed():
    issuer = Issuer(public_jwk("k1"))
    keys = IssuerKeys(issuer.jwks, refetch_seconds=30, clock=lambda: issuer.now)
    await keys.key("k1")
    issuer.keys.append(public_jwk("k2"))
    issuer.now += 30
    assert (await keys.key("k2")).key_id == "k2"
    assert issuer.fetches == 2


async def test_made_up_key_ids_do_not_each_fetch_the_jwks():
    issuer = Issuer(public_jwk("k1"))
    keys = IssuerKeys(issuer.jwks, refetch_seconds=30, clock=lambda: issuer.now)
    await keys.key("k1")
    for n in range(5):
        with pytest.raises(jwt.InvalidKeyError, match=f"made-up-{n}"):
            await keys.key(f"made-up-{n}")
    assert issuer.fetches == 1


async def test_a_token_without_a_key_id_may_use_the_only_key_but_not_one_of_two():
    single = IssuerKeys(Issuer(public_jwk("k1")).jwks)
    assert (await single.key(None)).key_id == "k1"
    two = IssuerKeys(Issuer(public_jwk("k1"), public_jwk("k2")).jwks)
    with pytest.raises(jwt.InvalidKeyError):
        await two.key(None)


async def test_an_encryption_key_is_never_a_signing_key():
    keys = IssuerKeys(Issuer(public_jwk("enc", use="enc")).jwks)
    with pytest.raises(jwt.InvalidKeyError):
        await keys.key("enc")

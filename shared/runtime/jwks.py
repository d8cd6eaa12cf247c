"""The signing keys of an OpenID issuer's JWKS that the engine verifies tokens with.

Both the authorizer (ID tokens of the operator's sign-in provider) and the gateway's MCP
endpoint (access tokens) read an issuer's JWKS; they keep the same keys of it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt

#: Algorithms a token may be signed with: the issuer's public keys only, so a key can never
#: double as an HMAC secret; each key's own algorithm is the only one accepted for it.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

#: An unknown key id fetches the JWKS again at most this often (a rotation is picked up, a
#: stream of made-up key ids is not a stream of requests to the issuer).
JWKS_REFETCH_SECONDS = 30.0


def signing_keys(jwks: dict[str, Any]) -> dict[str | None, jwt.PyJWK]:
    """Key id → key, for the JWKS's signature keys of an asymmetric algorithm.

    Encryption keys, and keys of a type or algorithm this engine does not verify with, are
    left out rather than refused: an issuer may publish them beside the ones it signs with.
    """
    keys: dict[str | None, jwt.PyJWK] = {}
    for entry in jwks.get("keys", []):
        if entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue
        if key.algorithm_name in ASYMMETRIC:
            keys[entry.get("kid")] = key
    return keys


class IssuerKeys:
    """An issuer's signing keys, fetched at first need and again when a token names a key id
    not seen yet (the issuer rotated its keys), at most once every ``refetch_seconds``.

    Args:
        fetch_jwks: Reads the issuer's JWKS document (its errors pass through).
        refetch_seconds: The least time between two fetches caused by unknown key ids.
        clock: Monotonic seconds (a test's clock).
    """

    def __init__(
        self,
        fetch_jwks: Callable[[], Awaitable[dict[str, Any]]],
        *,
        refetch_seconds: float = JWKS_REFETCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch_jwks, self._refetch_seconds, self._clock = fetch_jwks, refetch_seconds, clock
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key ``kid`` names; a token without ``kid`` may use the issuer's only key.

        Raises:
            jwt.InvalidKeyError: The issuer has no such signing key.
        """
        if kid not in self._keys and self._clock() - self._fetched_at >= self._refetch_seconds:
            self._keys, self._fetched_at = signing_keys(await self._fetch_jwks()), self._clock()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if kid not in self._keys:
            raise jwt.InvalidKeyError(f"no signing key {kid!r} in the issuer's JWKS")
        return self._keys[kid]

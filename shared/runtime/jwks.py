"""The signing keys of an OpenID issuer's JWKS that the engine verifies tokens with.

Both the authorizer (ID tokens of the operator's sign-in provider) and the gateway's MCP
endpoint (access tokens) read an issuer's JWKS; they keep the same keys of it.
"""

from __future__ import annotations

from typing import Any

import jwt

#: Algorithms a token may be signed with: the issuer's public keys only, so a key can never
#: double as an HMAC secret; each key's own algorithm is the only one accepted for it.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


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

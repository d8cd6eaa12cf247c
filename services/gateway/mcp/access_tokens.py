"""MCP authorization (``auth: oauth``): the access tokens the platform's OpenID provider issues, checked here.

The token is a JWT signed by the issuer (``auth.verification.oidc.issuer``): its signature is
checked against the issuer's JWKS (found through its discovery document), then ``iss``,
``exp`` and ``aud``, which must name the gateway (its URL, the RFC 8707 resource the client
asked the token for; ``mcp.audience`` replaces it for a provider that cannot mint per-resource
audiences). The user is the configured claim (``user_claim``, ``sub`` by default).
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from shared.errors import ServiceUnavailable, Unauthorized
from shared.runtime.jwks import IssuerKeys

LEEWAY_SECONDS = 0
FETCH_TIMEOUT_SECONDS = 5.0


class InvalidAccessToken(Unauthorized):
    """A token that is not the issuer's, has expired, or was not issued for this gateway."""

    code = "invalid_token"


class AccessTokens:
    """Checks an MCP client's bearer token and says whose it is.

    Args:
        issuer: The OpenID provider's issuer URL.
        user_claim: The claim naming the user.
        http: Where the discovery document and the JWKS are fetched.
        audience: Accept this ``aud`` instead of the gateway's URL.
    """

    def __init__(
        self, issuer: str, user_claim: str, http: httpx.AsyncClient, audience: str | None = None
    ) -> None:
        self.issuer = issuer
        self._user_claim = user_claim
        self._http = http
        self._audience = audience
        self._document: dict[str, Any] | None = None
        self._keys = IssuerKeys(self._jwks)

    async def user(self, token: str, resource: str) -> str:
        """The user ``token`` was issued to, for the gateway at ``resource``.

        Raises:
            InvalidAccessToken: Not a valid token of the issuer for this gateway.
            ServiceUnavailable: The issuer's keys cannot be fetched.
        """
        try:
            key = await self._keys.key(jwt.get_unverified_header(token).get("kid"))
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self._audience or resource,
                issuer=str((await self._discovery())["issuer"]),
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken(f"the access token is not valid: {exc}") from None
        user = claims.get(self._user_claim)
        if not isinstance(user, str) or not user:
            raise InvalidAccessToken(f"the access token has no {self._user_claim} claim")
        return user

    async def _jwks(self) -> dict[str, Any]:
        return await self._get_json(str((await self._discovery())["jwks_uri"]))

    async def _discovery(self) -> dict[str, Any]:
        if self._document is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            self._document = await self._get_json(url)
        return self._document

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, timeout=FETCH_TIMEOUT_SECONDS)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(f"the OpenID provider's {url} cannot be read: {exc}") from None
        if not isinstance(data, dict):
            raise ServiceUnavailable(f"the OpenID provider's {url} is not a JSON object")
        return data

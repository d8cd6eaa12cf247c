"""The platform's OpenID provider of the verification sign-in (``auth.verification.mode: oidc``):
discovery, the code exchange and the ID token's check, over the provider HTTP client."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote_plus

import jwt

from shared.errors import InvalidGrant, ProviderError
from shared.providers.http import ProviderHttp, ProviderResponse
from shared.providers.oauth import HttpRequestSpec
from shared.runtime.config import OidcVerifierConfig
from shared.runtime.jwks import IssuerKeys

#: Clock skew tolerated on an ID token's ``exp``/``iat`` (seconds).
ID_TOKEN_LEEWAY_S = 30


class OidcSignIn:
    """The platform's OpenID provider: discovery, the code exchange, and the ID token's check.

    The discovery document is read once; the JWKS again when a token names a key id not
    seen yet (key rotation), at most every 30 s (``shared.runtime.jwks.IssuerKeys``). Every
    call goes over ``http`` with the provider timeout.
    """

    def __init__(
        self, config: OidcVerifierConfig, http: ProviderHttp, *, redirect_uri: str, timeout: float
    ) -> None:
        self._config = config
        self._issuer = config.issuer.rstrip("/")
        self._http = http
        self._redirect_uri = redirect_uri
        self._timeout = timeout
        self._discovery: dict[str, Any] | None = None
        self._issuer_claim = self._issuer
        self._keys = IssuerKeys(self._jwks)

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        spec = HttpRequestSpec("GET", url, headers={"Accept": "application/json"})
        return _json_of(await self._http.send(spec, timeout=self._timeout), what)

    async def _document(self) -> dict[str, Any]:
        if self._discovery is None:
            url = f"{self._issuer}/.well-known/openid-configuration"
            document = await self._get_json(url, "the OpenID discovery document")
            if str(document.get("issuer", "")).rstrip("/") != self._issuer:
                raise ProviderError("the OpenID discovery document names another issuer", url=url)
            # ID tokens carry the issuer exactly as discovery spells it (some with a final "/").
            self._issuer_claim = str(document["issuer"])
            self._discovery = document
        return self._discovery

    async def authorization_endpoint(self) -> str:
        return str((await self._document())["authorization_endpoint"])

    async def claims(self, *, code: str, code_verifier: str) -> dict[str, Any]:
        document = await self._document()
        secret = self._config.client_secret.get_secret_value()
        basic = f"{quote_plus(self._config.client_id)}:{quote_plus(secret)}".encode()
        spec = HttpRequestSpec(
            "POST",
            str(document["token_endpoint"]),
            headers={
                "Authorization": "Basic " + base64.b64encode(basic).decode(),
                "Accept": "application/json",
            },
            form={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._redirect_uri,
                "code_verifier": code_verifier,
            },
        )
        answer = await self._http.send(spec, timeout=self._timeout)
        if 400 <= answer.status_code < 500:
            raise InvalidGrant("the OpenID provider refused the sign-in code")
        id_token = _json_of(answer, "the token answer").get("id_token")
        if not isinstance(id_token, str):
            raise ProviderError("the OpenID provider answered without an id_token")
        return await self._validated(id_token)

    async def _validated(self, id_token: str) -> dict[str, Any]:
        try:
            key = await self._keys.key(jwt.get_unverified_header(id_token).get("kid"))
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=[key.algorithm_name],
                audience=self._config.client_id,
                issuer=self._issuer_claim,
                leeway=ID_TOKEN_LEEWAY_S,
                options={"require": ["iss", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise ProviderError(f"the ID token is not valid: {exc}") from None
        return claims

    async def _jwks(self) -> dict[str, Any]:
        document = await self._document()
        return await self._get_json(str(document["jwks_uri"]), "the issuer's JWKS")


def _json_of(answer: ProviderResponse, what: str) -> dict[str, Any]:
    if answer.status_code != 200:
        raise ProviderError(f"{what} answered HTTP {answer.status_code}")
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise ProviderError(f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise ProviderError(f"{what} is not a JSON object")
    return data

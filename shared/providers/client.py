"""The one provider client: build (:mod:`.oauth`), send (:mod:`.http`), parse (:mod:`.parsing`).

The authorizer (code exchange, user info) and the token refresher (refresh, user info)
both call providers through this class, so a request is built, sent and classified the
same way wherever it comes from. Errors, from the parsers or the transport:

- :class:`~shared.errors.InvalidGrant`: the code or refresh token is dead (re-authorize);
- :class:`~shared.errors.ProviderUnavailable`: timeout, connection failure, HTTP 5xx or 429 (retry);
- :class:`~shared.errors.ProviderError`: any other refusal or unusable answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol

from shared.errors import ProviderUnavailable
from shared.providers import oauth, parsing, timing
from shared.providers.http import ProviderResponse
from shared.providers.models import Provider, TokenGrant
from shared.providers.oauth import HttpRequestSpec

#: Seconds a provider call may take unless the caller gives its own budget.
DEFAULT_TIMEOUT_SECONDS = 10.0
#: The least time a call is ever given (a nearly spent budget still gets one real try).
MIN_TIMEOUT_SECONDS = 0.1

TokenTypeHint = Literal["access_token", "refresh_token"]
GrantKind = Literal["token", "refresh"]


class Transport(Protocol):
    """Sends a built request (``shared.providers.http.ProviderHttp`` is the real one)."""

    async def send(self, spec: HttpRequestSpec, *, timeout: float) -> ProviderResponse:
        """Send; raises ProviderUnavailable on timeouts and transport errors."""
        ...


class ProviderClient:
    """Token exchange, refresh, user info and revocation against one provider config.

    Args:
        transport: Sends the requests (pooled aiohttp session, redirects never followed).
        clock: The current aware datetime; token expiry is computed from it on receipt.
        timeout: Seconds per call when the caller gives none.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        clock: Callable[[], datetime],
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._timeout = timeout

    async def _send(self, spec: HttpRequestSpec, timeout: float | None, call: str) -> ProviderResponse:
        budget = self._timeout if timeout is None else max(MIN_TIMEOUT_SECONDS, timeout)
        response = await self._transport.send(spec, timeout=budget)
        timing.record(call, response.upstream_seconds)
        return response

    async def _grant(
        self,
        provider: Provider,
        spec: HttpRequestSpec,
        kind: Literal["token", "refresh"],
        timeout: float | None,
    ) -> TokenGrant:
        response = await self._send(spec, timeout, kind)
        return parsing.parse_token_response(
            provider,
            kind=kind,
            status_code=response.status_code,
            content_type=response.content_type,
            body=response.body,
            now=self._clock(),
            retry_after=response.retry_after,
        )

    async def exchange(
        self,
        provider: Provider,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        timeout: float | None = None,
    ) -> TokenGrant:
        """Exchange an authorization code (with its PKCE verifier when the provider uses PKCE).

        Raises:
            BadRequest: The provider uses PKCE and no verifier was given.
            InvalidGrant: The code was refused.
            ProviderUnavailable: Timeout, 5xx or 429.
            ProviderError: Any other unusable answer.
        """
        spec = oauth.build_token_request(
            provider, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        return await self._grant(provider, spec, "token", timeout)

    async def refresh(
        self,
        provider: Provider,
        *,
        refresh_token: str | None,
        access_token: str | None = None,
        timeout: float | None = None,
    ) -> TokenGrant:
        """Refresh a grant; check :func:`shared.providers.oauth.can_refresh` first.

        Raises:
            ProviderUnavailable: No refresh request can be built for these tokens (a caller bug).
            InvalidGrant: The refresh token is dead.
            ProviderUnavailable: Timeout, 5xx or 429.
        """
        spec = oauth.build_refresh_request(provider, refresh_token=refresh_token, access_token=access_token)
        if spec is None:
            raise ProviderUnavailable(f"provider {provider.id}: refresh request could not be built")
        return await self._grant(provider, spec, "refresh", timeout)

    async def user_info(
        self, provider: Provider, access_token: str, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """The user info the token gives access to; ``{}`` when the provider configures none.

        Raises:
            ProviderUnavailable: Timeout, 5xx or 429.
            ProviderError: The provider refused or answered something unreadable.
        """
        spec = oauth.build_user_info_request(provider, access_token)
        if spec is None:
            return {}
        response = await self._send(spec, timeout, "user_info")
        return parsing.parse_user_info(
            provider,
            response.status_code,
            response.body,
            content_type=response.content_type,
            retry_after=response.retry_after,
        )

    async def revoke(
        self,
        provider: Provider,
        token: str,
        *,
        token_type_hint: TokenTypeHint | None = None,
        timeout: float | None = None,
    ) -> bool:
        """Revoke a token at the provider (RFC 7009).

        Returns:
            True when the provider confirmed (it also confirms unknown tokens); False when
            it has no ``token_revocation_request`` configured.

        Raises:
            ProviderUnavailable: Timeout, 5xx or 429.
            ProviderError: The provider refused (``unsupported_token_type``, bad client...).
        """
        spec = oauth.build_revocation_request(provider, token, token_type_hint=token_type_hint)
        if spec is None:
            return False
        response = await self._send(spec, timeout, "revoke")
        parsing.parse_revocation(
            provider,
            response.status_code,
            response.body,
            content_type=response.content_type,
            retry_after=response.retry_after,
        )
        return True

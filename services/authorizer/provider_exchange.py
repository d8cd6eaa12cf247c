"""A callback's two calls to the provider, each bounded by the exchange's deadline.

Both end :data:`DEADLINE_MARGIN_S` before the deadline the claim gave the exchange, even when
the provider trickles: the grant then fails as ``provider_unavailable`` and the token goes
without user info, so that a live callback always finishes before the sweeper takes it for
interrupted (``sweeper.py``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from services.authorizer import domain
from services.authorizer.ports import ProviderCalls
from shared.errors import ProviderError, ValetkeyError
from shared.providers.models import Provider, TokenGrant
from shared.runtime.logging import get_logger

log = get_logger(__name__)

DEADLINE_MARGIN_S = 1.0


async def granted(
    client: ProviderCalls,
    provider: Provider,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
    until: datetime,
    now: datetime,
) -> TokenGrant | str:
    """The provider's token grant for ``code``, or the failure reason, before ``until``."""
    try:
        async with asyncio.timeout(_budget(until, now)):
            return await client.exchange(
                provider, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
            )
    except ValetkeyError as exc:
        return failure_reason(exc)
    except TimeoutError:
        return "provider_unavailable"


async def user_info_of(
    client: ProviderCalls, provider: Provider, access_token: str, *, until: datetime, now: datetime
) -> dict[str, object]:
    """User info, if the provider gives it before ``until``: the token is good without it."""
    if not domain.wants_user_info(provider):
        return {}
    try:
        async with asyncio.timeout(_budget(until, now)):
            return await client.user_info(provider, access_token)
    except (ProviderError, TimeoutError) as exc:
        error = exc.code if isinstance(exc, ProviderError) else "deadline"
        log.warning("authorization.user_info_failed", provider_id=provider.id, error=error)
        return {}


def failure_reason(exc: ValetkeyError) -> str:
    """The provider's own error code when it gave one (``invalid_client``), else ours."""
    provider_error = exc.details.get("provider_error")
    return str(provider_error) if provider_error else exc.code


def _budget(until: datetime, now: datetime) -> float:
    return max((until - now).total_seconds() - DEADLINE_MARGIN_S, 0)

"""Reading a token that is never served expired.

Every reader (the authorizer answering ``completed``, the executor before a tool runs)
goes through :func:`fresh_token`: a token inside its refresh margin is refreshed by
the token_refresher over NATS first (concurrent askers share one refresh there), and
an expired token is never returned. :func:`cacheable_until_due` lets the gateway repeat an
answer carrying a token until the moment this module would refresh it, and no longer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shared.bus import subjects
from shared.bus.answers import Cacheable
from shared.bus.messaging import RpcClient
from shared.contracts.authorization import Authorization, AuthorizationContext
from shared.contracts.common import DEFAULT_PROJECT, utcnow
from shared.contracts.tokens import RefreshOutcome, RefreshToken
from shared.errors import ProviderUnavailable, ValetkeyError
from shared.tokens.model import (
    RefreshPolicy,
    StoredToken,
    connection_authorization_id,
    connection_id_of,
    is_expired,
)


class TokenReads(Protocol):
    """Token reads: ``shared.tokens.store.TokenStore``, or the executor's cached reads
    (``shared.tokens.cached.CachedTokens``), whose ``get`` may serve a record read earlier."""

    async def get(self, user_id: str, provider_id: str, *, project: str = ...) -> StoredToken | None:
        """The token, decrypted; None when absent (or unreadable)."""
        ...

    async def latest(self, user_id: str, provider_id: str, *, project: str = ...) -> StoredToken | None:
        """The token as Redis holds it now."""
        ...


async def fresh_token(
    store: TokenReads,
    rpc: RpcClient,
    policy: RefreshPolicy,
    *,
    user_id: str,
    provider_id: str,
    project: str = DEFAULT_PROJECT,
    force: bool = False,
    now: datetime | None = None,
) -> StoredToken | None:
    """The user's usable token for a provider, or None when a (new) authorization is needed.

    Args:
        force: Refresh even if the token looks valid (after the upstream answered 401).

    Raises:
        ProviderUnavailable: The token is expired and the refresh failed for a transient reason.
    """
    moment = now or utcnow()
    token = await store.get(user_id, provider_id, project=project)
    if token is None or token.status != "active":
        return None
    if not force and not policy.is_due(token, moment):
        return token
    if token.refresh_token is None:
        return None if is_expired(token, moment) else token
    try:
        outcome = await rpc.call(
            subjects.TOKEN_REFRESH,
            RefreshToken(user_id=user_id, provider_id=provider_id, project=project, force=force),
            RefreshOutcome,
        )
    except ValetkeyError as exc:
        if exc.retryable and not is_expired(token, moment):
            return token  # a transient failure: the old token is still valid, serve it
        if exc.retryable:
            raise ProviderUnavailable("the token expired and could not be refreshed yet; retry") from exc
        raise
    if outcome.status == "reauthorization_required":
        return None
    # Past any cache: the refresher's write is what this caller must use, at once.
    refreshed = await store.latest(user_id, provider_id, project=project)
    if refreshed is None or refreshed.status != "active" or is_expired(refreshed, utcnow()):
        return None
    return refreshed


def completed_authorization(
    user_id: str, provider_id: str, token: StoredToken, project: str = DEFAULT_PROJECT
) -> Authorization:
    """A ``completed`` authorization that stands for the user's connection (no record behind it)."""
    return Authorization(
        id=connection_authorization_id(connection_id_of(user_id, provider_id, project)),
        status="completed",
        scopes=token.scopes,
        provider_id=provider_id,
        user_id=user_id,
        context=AuthorizationContext(token=token.access_token, user_info=token.user_info),
    )


def cacheable_until_due(
    answer: Authorization, token: StoredToken, policy: RefreshPolicy, *, now: datetime
) -> Cacheable[Authorization] | Authorization:
    """``answer`` (a completed authorization carrying ``token``) marked cacheable until the token
    falls due for refresh under ``policy`` (never past its expiry; no limit for a token that never
    expires); ``answer`` alone when it is due already (a read that could not refresh it)."""
    due = policy.due_at(token)
    if due is not None and token.expires_at is not None:
        due = min(due, token.expires_at)
    if due is not None and due <= now:
        return answer
    return Cacheable(answer, due)

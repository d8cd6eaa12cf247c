"""The token model and its time rules, pure and clock-injected.

``expires_at`` is absolute, computed the moment a token arrives. A token is
*due* for refresh a margin before it expires: the configured margin (default
5 minutes) or, for short-lived tokens, a fraction of the lifetime, so a token
that lives 60 s is refreshed at ~45 s instead of immediately.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal, TypeGuard

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.common import DEFAULT_PROJECT

ConnectionStatus = Literal["active", "reauthorization_required"]


class StoredToken(BaseModel):
    """What the store keeps for one (user, provider) connection; encrypted as a whole."""

    model_config = ConfigDict(extra="ignore")

    access_token: str
    refresh_token: str | None = None
    token_type: str = "Bearer"
    issued_at: datetime
    expires_at: datetime | None = None
    scopes: list[str] = Field(default_factory=list)
    user_info: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    status: ConnectionStatus = "active"
    generation: int = 0


class RefreshPolicy(BaseModel):
    """When a token counts as due; both knobs come from ``engine.yaml`` ``refresh:``."""

    model_config = ConfigDict(frozen=True)

    margin_seconds: float = 300.0
    lifetime_fraction: float = 0.25

    def margin(self, token: StoredToken) -> timedelta:
        """The refresh margin for this token: the smaller of the fixed margin and a lifetime fraction."""
        fixed = timedelta(seconds=self.margin_seconds)
        if token.expires_at is None:
            return fixed
        lifetime = token.expires_at - token.issued_at
        return min(fixed, lifetime * self.lifetime_fraction)

    def due_at(self, token: StoredToken) -> datetime | None:
        """The moment a proactive refresh should happen; None for tokens that never expire."""
        if token.expires_at is None:
            return None
        return token.expires_at - self.margin(token)

    def is_due(self, token: StoredToken, now: datetime) -> bool:
        """True once the token is inside its margin (or expired)."""
        due = self.due_at(token)
        return due is not None and now >= due


def is_expired(token: StoredToken, now: datetime, leeway: timedelta = timedelta(seconds=5)) -> bool:
    """True when the token is expired or about to be within ``leeway``; never-expiring tokens are not."""
    return token.expires_at is not None and now + leeway >= token.expires_at


def covers(
    token: StoredToken | None, required_scopes: Iterable[str], *, now: datetime
) -> TypeGuard[StoredToken]:
    """The one rule for "does this token cover this requirement".

    A token covers a requirement when all of these hold:

    - there is a token, and its connection is ``active`` (not waiting for re-authorization);
    - it can still be used: it is not expired, or it has a refresh token to get a new one;
    - every required scope was granted (blank scopes are ignored; no scope at all is
      covered by any usable token).

    Args:
        token: The user's stored token for the provider, if any.
        required_scopes: The scopes the tool or the authorization asks for.
        now: The current time (aware).

    Returns:
        True when it covers (the type checker then knows ``token`` is not None).
    """
    if token is None or token.status != "active":
        return False
    if token.refresh_token is None and is_expired(token, now):
        return False
    return {scope for scope in required_scopes if scope} <= set(token.scopes)


# A completed authorization that needed no consent stands for the connection: its id is
# derived from the connection id (38 characters), so no record is written for it and any
# service holding the token store can answer it. Authorization ids (``new_id("ac")``) are 27 long.
_CONNECTION_AUTHORIZATION_PREFIX = "ac_uc_"
_CONNECTION_AUTHORIZATION_LENGTH = len(_CONNECTION_AUTHORIZATION_PREFIX) + 32


def connection_authorization_id(connection: str) -> str:
    """The authorization id that stands for a connection's current token."""
    return f"ac_{connection}"


def connection_of_authorization(authorization_id: str) -> str | None:
    """The connection id behind a connection's authorization id, else None."""
    if (
        authorization_id.startswith(_CONNECTION_AUTHORIZATION_PREFIX)
        and len(authorization_id) == _CONNECTION_AUTHORIZATION_LENGTH
    ):
        return authorization_id.removeprefix("ac_")
    return None


def connection_id_of(user_id: str, provider_id: str, project: str = DEFAULT_PROJECT) -> str:
    """The stable id of a (project, user, provider) connection, safe to show and to use in keys.

    The default project's ids are derived as before projects existed, so its stored tokens keep
    their keys and associated data; another project's ids also hash the project (a ``:`` never
    occurs in a project id, and ``\x00`` in none of the three), so two projects never share one.
    """
    parts = (user_id, provider_id) if project == DEFAULT_PROJECT else (project, user_id, provider_id)
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
    return f"uc_{digest}"

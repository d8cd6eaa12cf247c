"""The refresher's decisions, pure: what to do with a token, how a failure counts, when to retry.

Nothing here does I/O or reads a clock; times and randomness come in as arguments,
so every rule is tested with plain values.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.errors import InvalidGrant, ProviderError, ProviderUnavailable, ValetkeyError
from shared.providers.models import TokenGrant
from shared.tokens.model import RefreshPolicy, StoredToken

#: Provider error codes (besides ``invalid_grant``) that mean the grant itself is gone:
#: re-consent is the only fix. ``unauthorized_client`` is what Google answers for a
#: refresh token issued to another client id (NangoHQ/nango#988).
REVOKED_CODES = frozenset({"invalid_grant", "unauthorized_client", "invalid_token", "token_revoked"})

#: The failure reason when the grant is gone after a refresh whose outcome we never saw: a
#: call that spent the refresh token was killed or timed out before its answer was stored,
#: and the provider then refused the same refresh token (reuse detection, or no grace period).
OUTCOME_UNKNOWN = "refresh_outcome_unknown"

#: A provider's Retry-After is honoured up to this; a larger value is a broken header.
RETRY_AFTER_CEILING = 3600.0


class Decision(enum.Enum):
    """What to do once the lock is held and the token re-read."""

    REFRESH = "refresh"
    FRESH = "fresh"  # someone else refreshed it, or it is not due yet
    NOT_REFRESHABLE = "not_refreshable"  # no token, no refresh token, or no refresh config
    REAUTHORIZATION_REQUIRED = "reauthorization_required"


class FailureKind(enum.Enum):
    """How a failed refresh counts."""

    REAUTHORIZE = "reauthorize"  # the grant is dead: only a new consent helps
    TRANSIENT = "transient"  # timeout, 5xx, 429: retry soon, quickly at first
    REJECTED = "rejected"  # another OAuth error (invalid_client...): an operator must act; retry slowly


@dataclass(frozen=True)
class Failure:
    """A classified refresh failure.

    Attributes:
        kind: How it counts.
        code: The provider's error code or our error code (never a token).
        retry_after: Seconds the provider asked us to wait, if it said.
    """

    kind: FailureKind
    code: str
    retry_after: float | None = None


def changed(before: StoredToken, after: StoredToken) -> bool:
    """True when ``after`` is a different grant generation than ``before`` (someone wrote meanwhile)."""
    return (after.generation, after.issued_at, after.refresh_token) != (
        before.generation,
        before.issued_at,
        before.refresh_token,
    )


def decide(
    token: StoredToken | None,
    *,
    now: datetime,
    policy: RefreshPolicy,
    refreshable: bool,
    force: bool = False,
    seen: StoredToken | None = None,
) -> Decision:
    """Decide, under the lock, whether this caller must call the token endpoint.

    Args:
        token: The token as re-read after taking the lock.
        now: The current time.
        policy: When a token counts as due.
        refreshable: A refresh request can be built (provider config and refresh token present).
        force: Refresh even if not due (the upstream answered 401).
        seen: The token as read before waiting for the lock; when it changed since, a
            concurrent refresh already happened and even a forced caller takes its result.

    Returns:
        The decision.
    """
    if token is None:
        return Decision.NOT_REFRESHABLE
    if token.status != "active":
        return Decision.REAUTHORIZATION_REQUIRED
    if seen is not None and changed(seen, token):
        return Decision.FRESH
    if not force and not policy.is_due(token, now):
        return Decision.FRESH
    if not refreshable:
        return Decision.NOT_REFRESHABLE
    return Decision.REFRESH


def classify(error: ValetkeyError) -> Failure:
    """Sort a refresh failure into re-authorize, transient or rejected.

    Args:
        error: What the provider layer raised.

    Returns:
        The failure; ``retry_after`` is taken from the provider's Retry-After when present.
    """
    details: dict[str, Any] = error.details
    code = str(details.get("provider_error") or error.code)
    retry_after = details.get("retry_after")
    wait = float(retry_after) if isinstance(retry_after, int | float) else None
    if isinstance(error, InvalidGrant) or code in REVOKED_CODES:
        return Failure(FailureKind.REAUTHORIZE, code)
    if error.retryable:
        return Failure(FailureKind.TRANSIENT, code, wait)
    if isinstance(error, ProviderError):
        return Failure(FailureKind.REJECTED, code, wait)
    return Failure(FailureKind.TRANSIENT, code, wait)


def may_have_spent(error: ValetkeyError) -> bool:
    """True when a refresh call ended without any answer (a timeout, a dropped connection).

    The provider may have received it and rotated the refresh token; an HTTP answer, even a
    503 or a 429, says it did not.
    """
    return isinstance(error, ProviderUnavailable) and "status_code" not in error.details


def backoff(attempt: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with "equal jitter": between half and all of ``base * 2**(attempt-1)``.

    Half is kept so a retry never fires immediately; the random half spreads replicas
    and connections that failed together (a provider outage) over the window.

    Args:
        attempt: 1 for the first retry.
        base: Delay of the first retry, seconds.
        cap: Largest delay, seconds.
        rand: A source of floats in [0, 1).
    """
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rand() * ceiling / 2


def retry_delay(
    attempt: int, retry_after: float | None, *, base: float, cap: float, rand: Callable[[], float]
) -> float:
    """Seconds before the next try: the backoff, or the provider's Retry-After when that is longer."""
    delay = backoff(attempt, base=base, cap=cap, rand=rand)
    if retry_after is None:
        return delay
    return max(delay, min(retry_after, RETRY_AFTER_CEILING))


def refreshed_token(
    old: StoredToken, grant: TokenGrant, *, now: datetime, user_info: dict[str, Any] | None
) -> StoredToken:
    """The token to store after a successful refresh.

    The old refresh token is kept when the response carries none (most non-rotating
    providers; NangoHQ/nango#298), and so are the scopes when the response omits them.

    Args:
        old: The token that was refreshed.
        grant: The parsed refresh response.
        now: When the response arrived.
        user_info: Freshly fetched user info, or None to keep the old one.
    """
    return StoredToken(
        access_token=grant.access_token,
        refresh_token=grant.refresh_token or old.refresh_token,
        token_type=grant.token_type,
        issued_at=now,
        expires_at=grant.expires_at,
        scopes=grant.scopes if grant.scopes is not None else old.scopes,
        user_info=old.user_info if user_info is None else user_info,
        extra={**old.extra, **grant.extra},
        status="active",
        generation=old.generation + 1,
    )


def lost_race(used_refresh_token: str | None, current: StoredToken | None) -> bool:
    """True when an ``invalid_grant`` only means someone else already rotated the refresh token.

    Args:
        used_refresh_token: The refresh token our failed request carried.
        current: The token in the store right after the failure.
    """
    return (
        current is not None
        and current.status == "active"
        and current.refresh_token is not None
        and current.refresh_token != used_refresh_token
    )


def lateness(due: datetime | None, now: datetime) -> timedelta | None:
    """How late a scheduled refresh starts (refresh moment minus due moment); None when unscheduled."""
    return None if due is None else now - due

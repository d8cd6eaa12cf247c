"""Pure decisions of the authorizer: authorization records, scopes, tokens from grants, failure reasons.

What the browser is shown after a callback is in ``callback_pages.py``. Nothing here does
I/O or reads the clock; callers pass ``now``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.authorization import Authorization, AuthorizationContext, AuthStatus, OAuthCallback
from shared.contracts.common import DEFAULT_PROJECT
from shared.errors import BadRequest
from shared.providers.models import Provider, TokenGrant
from shared.tokens.model import StoredToken

#: Where an authorization is. Every change of a stored record moves it along ``NEXT_STAGES``
#: with a compare-and-set on the stage it was read in, so two actors (two copies of one
#: callback, a callback and the sweeper) never both act on it: the second one's write is
#: refused and it answers with what the first one made of the record.
Stage = Literal["consent", "exchanging", "verify", "done"]

#: consent: the user is at the provider; exchanging: a callback is exchanging the code;
#: verify: the token is held until ``confirm_user``; done: completed or failed, for good.
NEXT_STAGES: dict[Stage, frozenset[Stage]] = {
    "consent": frozenset({"exchanging", "done"}),
    "exchanging": frozenset({"verify", "done"}),
    "verify": frozenset({"done"}),
    "done": frozenset(),
}

#: The failure reason of a record still in an intermediate stage past its deadline.
OVERDUE_REASONS: dict[Stage, str] = {
    "exchanging": "exchange_interrupted",
    "verify": "verification_expired",
}
VerificationMode = Literal["builtin", "custom", "oidc", "unsafe_skip"]


class AuthorizationSecrets(BaseModel):
    """The parts of an authorization record that are encrypted at rest."""

    model_config = ConfigDict(frozen=True)

    code_verifier: str | None = Field(default=None, repr=False)
    token: StoredToken | None = Field(default=None, repr=False)
    # Verification ``oidc``: the sign-in's nonce and PKCE verifier, bound to the flow.
    sign_in_nonce: str | None = Field(default=None, repr=False)
    sign_in_verifier: str | None = Field(default=None, repr=False)


class AuthorizationRecord(BaseModel):
    """One authorization as the authorizer keeps it between start and completion."""

    model_config = ConfigDict(frozen=True)

    id: str
    user_id: str
    provider_id: str
    # Records written before projects have none: they are the default project's.
    project: str = DEFAULT_PROJECT
    scopes: list[str] = Field(default_factory=list)
    status: AuthStatus = "pending"
    stage: Stage = "consent"
    url: str | None = None
    next_uri: str | None = None
    created_at: datetime
    updated_at: datetime
    state_expires_at: datetime | None = None
    flow_id: str | None = None
    failure_reason: str | None = None
    # When an intermediate stage (exchanging, verify) is given up by the sweeper.
    deadline_at: datetime | None = None
    # The W3C traceparent of the start: the callback's and the verification's work resume its trace.
    traceparent: str | None = None
    secrets: AuthorizationSecrets = Field(default_factory=AuthorizationSecrets, repr=False)

    def advance(self, now: datetime, **changes: Any) -> AuthorizationRecord:
        """A copy with ``changes`` applied and ``updated_at`` set."""
        return self.model_copy(update={**changes, "updated_at": now})

    def claimed(self, now: datetime, *, deadline_at: datetime) -> AuthorizationRecord:
        """The record taken by the callback that exchanges its code, until ``deadline_at``."""
        return self.advance(now, stage="exchanging", deadline_at=deadline_at)

    def held(
        self,
        now: datetime,
        *,
        flow_id: str,
        token: StoredToken,
        deadline_at: datetime,
        sign_in: tuple[str, str] | None = None,
    ) -> AuthorizationRecord:
        """The record holding its token (encrypted) until the user is confirmed; ``sign_in``
        is the (nonce, PKCE verifier) of the verification sign-in, in ``oidc`` mode."""
        nonce, verifier = sign_in or (None, None)
        held = AuthorizationSecrets(token=token, sign_in_nonce=nonce, sign_in_verifier=verifier)
        return self.advance(now, stage="verify", flow_id=flow_id, deadline_at=deadline_at, secrets=held)

    def failed(self, reason: str, now: datetime) -> AuthorizationRecord:
        """The record marked failed; held secrets are dropped (nothing is kept for anyone)."""
        return self.advance(
            now,
            status="failed",
            stage="done",
            failure_reason=reason,
            deadline_at=None,
            secrets=AuthorizationSecrets(),
        )

    def completed(self, scopes: list[str], now: datetime) -> AuthorizationRecord:
        """The record marked completed with the scopes actually stored."""
        return self.advance(
            now,
            status="completed",
            stage="done",
            scopes=scopes,
            deadline_at=None,
            secrets=AuthorizationSecrets(),
        )


def check_transition(before: Stage, after: Stage) -> None:
    """Refuse a stage change the life of an authorization does not have.

    Raises:
        ValueError: ``after`` does not follow ``before`` (a programming error, never input).
    """
    if after not in NEXT_STAGES[before]:
        raise ValueError(f"an authorization does not go from {before!r} to {after!r}")


def overdue_reason(record: AuthorizationRecord, now: datetime) -> str | None:
    """Why the sweeper fails a record now, or None while it may still finish on its own."""
    reason = OVERDUE_REASONS.get(record.stage)
    if reason is None or record.deadline_at is None or record.deadline_at > now:
        return None
    return reason


def in_progress(record: AuthorizationRecord) -> bool:
    """True while another actor may still move the record on (a second callback waits)."""
    return record.stage in ("consent", "exchanging")


def merge_scopes(*groups: list[str]) -> list[str]:
    """Scopes of every group, in order, without duplicates or empty items."""
    return list(dict.fromkeys(s for group in groups for s in group if s))


def state_digest(state: str) -> str:
    """Redis keys hold the state's digest, so a dump of Redis does not reveal live states."""
    return hashlib.sha256(state.encode()).hexdigest()


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def check_next_uri(next_uri: str | None, allowed_origins: frozenset[str] | None) -> str | None:
    """Accept an absolute http(s) ``next_uri`` on an allowed origin (None: any origin).

    The browser is sent there after consent, so an open redirect would carry the user
    anywhere a caller names (``javascript:``, relative tricks and foreign sites alike).

    Raises:
        BadRequest: Not an absolute http(s) URL, or its origin is not allowed.
    """
    if not next_uri:
        return None
    parts = urlsplit(next_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest("next_uri must be an absolute http(s) URL")
    if allowed_origins is not None and origin_of(next_uri) not in allowed_origins:
        raise BadRequest(
            f"next_uri's origin {origin_of(next_uri)} is not allowed; add it to auth.next_uri_origins"
        )
    return next_uri


def stored_token(
    grant: TokenGrant,
    *,
    previous: StoredToken | None,
    requested: list[str],
    user_info: dict[str, Any],
    now: datetime,
) -> StoredToken:
    """The token to store after a code exchange.

    Args:
        grant: The parsed token response.
        previous: The user's earlier token for this provider, if any.
        requested: The scopes asked for (used when the provider does not echo them).
        user_info: Fetched user info (empty when none was fetched).
        now: When the grant arrived.

    Returns:
        A new token; a refresh token the provider did not resend is kept from ``previous``.
    """
    refresh = grant.refresh_token or (previous.refresh_token if previous else None)
    extra = dict(grant.extra)
    if grant.refresh_expires_at is not None:
        extra["refresh_expires_at"] = grant.refresh_expires_at.isoformat()
    return StoredToken(
        access_token=grant.access_token,
        refresh_token=refresh,
        token_type=grant.token_type,
        issued_at=now,
        expires_at=grant.expires_at,
        scopes=grant.scopes if grant.scopes is not None else requested,
        user_info=user_info or (previous.user_info if previous else {}),
        extra=extra,
        generation=previous.generation + 1 if previous else 0,
    )


def wants_user_info(provider: Provider) -> bool:
    """True when the provider asks for user info when a token is granted."""
    request = provider.oauth2.user_info_request
    return request is not None and request.triggers.on_token_grant


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def issuer_matches(iss: str, provider: Provider) -> bool:
    """RFC 9207 mix-up defence: an ``iss`` on the callback must come from the provider the state was for.

    Providers name their issuer on the host of their authorize or token endpoint, so
    comparing origins works without per-provider issuer configuration.
    """
    config = provider.oauth2
    endpoints = [config.authorize_request.endpoint or "", config.token_request.endpoint or ""]
    return _origin(iss) in {_origin(e) for e in endpoints if e}


def callback_error(callback: OAuthCallback) -> str | None:
    """The reason a callback cannot be exchanged before anything is looked up, or None."""
    if callback.error:
        return callback.error[:64]
    if not callback.code:
        return "missing_code"
    return None


def state_expiry(now: datetime, ttl_seconds: int) -> datetime:
    """When a state issued now stops being accepted."""
    return now + timedelta(seconds=ttl_seconds)


def to_authorization(record: AuthorizationRecord, token: StoredToken | None = None) -> Authorization:
    """The Arcade-shaped authorization for a record; ``token`` fills the context when completed."""
    completed = record.status == "completed"
    context = None
    if completed and token is not None:
        context = AuthorizationContext(token=token.access_token, user_info=token.user_info)
    return Authorization(
        id=record.id,
        status=record.status,
        url=None if completed else record.url,
        scopes=token.scopes if completed and token is not None else record.scopes,
        provider_id=record.provider_id,
        user_id=record.user_id,
        context=context,
        failure_reason=record.failure_reason,
    )


def sign_in_mismatch(
    claims: Mapping[str, Any], *, nonce: str | None, user_claim: str, user_id: str
) -> str | None:
    """Why a validated ID token does not confirm the flow's user, or None when it does.

    ``nonce_mismatch``: the token was not issued for this flow's sign-in (a replayed or
    injected token): refused, the flow waits. ``user_mismatch``: someone else signed in
    (or the token lacks ``user_claim``): the flow fails.
    """
    got = claims.get("nonce")
    if not nonce or not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        return "nonce_mismatch"
    if claims.get(user_claim) != user_id:
        return "user_mismatch"
    return None


def sign_in_url(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: list[str],
    flow_id: str,
    nonce: str,
    challenge: str,
) -> str:
    """The OpenID provider's authorization URL for a flow's verification sign-in: code flow,
    the flow id as ``state``, the flow's nonce, PKCE S256."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": flow_id,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    separator = "&" if urlsplit(endpoint).query else "?"
    return f"{endpoint}{separator}{urlencode(params)}"

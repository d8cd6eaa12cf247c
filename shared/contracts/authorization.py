"""Authorization flows: gateway <-> authorizer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.contracts.common import DEFAULT_PROJECT, Contract, InProject, PageQuery

AuthStatus = Literal["not_started", "pending", "completed", "failed"]


class AuthRequirement(Contract):
    """What to authorize: a configured provider (``id``) or a provider type (``provider_id``)."""

    id: str | None = None
    provider_id: str | None = None
    provider_type: str = "oauth2"
    scopes: list[str] = Field(default_factory=list)


class StartAuthorization(InProject):
    user_id: str = Field(min_length=1)
    requirement: AuthRequirement
    next_uri: str | None = None


class AuthorizationContext(Contract):
    token: str | None = None
    user_info: dict[str, Any] = Field(default_factory=dict)


class Authorization(Contract):
    """Arcade's ``AuthorizationResponse``, as the authorizer knows it."""

    id: str | None = None
    status: AuthStatus
    url: str | None = None
    scopes: list[str] = Field(default_factory=list)
    provider_id: str | None = None
    user_id: str | None = None
    context: AuthorizationContext | None = None
    failure_reason: str | None = None


class GetAuthorization(InProject):
    authorization_id: str = Field(min_length=1)


class OAuthCallback(Contract):
    """What the provider's redirect brought to ``/oauth/callback``."""

    state: str | None = None
    code: str | None = None
    error: str | None = None
    error_description: str | None = None
    iss: str | None = None
    # How long a second copy of a callback waits for the first one's outcome before it
    # answers ``pending`` (the gateway then asks again).
    wait_seconds: float = Field(default=3.0, ge=0, le=25)


class CallbackOutcome(Contract):
    """Where the browser goes next, decided by the authorizer (``pending``: another copy of
    the callback is still being handled; ask again)."""

    status: Literal["completed", "failed", "verify", "pending"]
    authorization_id: str | None = None
    redirect_to: str | None = None
    flow_id: str | None = None
    message: str = ""
    # The completed authorization, token included, for the gateway's own waiting long-polls;
    # never shown to the browser.
    authorization: Authorization | None = None


class VerifyCallback(Contract):
    """What the platform's OpenID provider brought back to ``VERIFY_CALLBACK_PATH``
    (verification ``oidc``): the ``state`` is the flow id the sign-in was started for."""

    state: str | None = None
    code: str | None = None
    error: str | None = None
    iss: str | None = None


class ConfirmUser(InProject):
    """``project``: the API caller's; None from the browser pages, where the flow id alone is the
    capability and the flow's own project applies."""

    flow_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    project: str | None = DEFAULT_PROJECT  # type: ignore[assignment]


class ConfirmUserResult(Contract):
    auth_id: str
    next_uri: str | None = None
    # As on ``CallbackOutcome``: for the gateway's waiters, not part of the HTTP answer.
    authorization: Authorization | None = None


class ProviderRef(InProject):
    id: str = Field(min_length=1)


class ProviderWrite(InProject):
    """Create or patch a provider at runtime; ``body`` is the admin API's JSON."""

    id: str | None = None
    body: dict[str, Any]


class ListConnections(PageQuery):
    user_id: str | None = None
    provider_id: str | None = None


class ConnectionRef(InProject):
    id: str = Field(min_length=1)


class FlowRef(Contract):
    """A verification flow (``flow_id`` from the verifier redirect)."""

    flow_id: str = Field(min_length=1)


class FlowInfo(Contract):
    """What a verifier page may show about a flow waiting for ``confirm_user``."""

    flow_id: str
    authorization_id: str
    user_id: str
    provider_id: str
    scopes: list[str] = Field(default_factory=list)


class AdminObject(Contract):
    """One admin API object (auth provider, user connection) in its wire shape."""

    item: dict[str, Any]


#: Where the gateway serves the verification step; the authorizer sends users there with the
#: flow id in the query (``builtin``: a confirm page; ``oidc``: on to the OpenID provider).
VERIFY_PATH = "/oauth/verify"
# Where providers send the browser back; register <public_url> + this at each provider.
CALLBACK_PATH = "/oauth/callback"
#: Where the platform's OpenID provider sends the browser back after the verification
#: sign-in (``verification: oidc``); register <public_url> + this there.
VERIFY_CALLBACK_PATH = "/oauth/verify/callback"


class InFlightQuery(InProject):
    """The project's authorizations still under way (at the provider, exchanging its code, or
    waiting for the user's confirmation), newest first."""

    limit: int = Field(default=100, ge=1, le=500)


class InFlightAuthorization(Contract):
    id: str
    user_id: str
    provider_id: str
    stage: str
    scopes: list[str] = Field(default_factory=list)
    created_at: str
    # When it stops being in flight unless it moves on: its state's expiry, then its stage's deadline.
    until: str


class InFlight(Contract):
    items: list[InFlightAuthorization] = Field(default_factory=list)
    total_count: int = 0


class VerificationSettings(Contract):
    """Arcade's ``SessionVerificationSettingsResponse``: a project's verification as it applies now."""

    unsafe_skip_verification: bool
    unsafe_skip_verification_choice_allowed: bool
    verifier_url: str | None = None


class VerificationSettingsWrite(InProject):
    """Arcade's ``UpdateSessionVerificationSettingsRequest`` for the key's project."""

    unsafe_skip_verification: bool | None = None
    verifier_url: str | None = Field(default=None, max_length=2048)


class VerifierTest(InProject):
    """Arcade's ``ValidateCustomVerifierRequest``: a test flow for the verifier at ``verifier_url``."""

    user_id: str = Field(min_length=1, max_length=512)
    verifier_url: str = Field(min_length=1, max_length=2048)


class VerifierTestStarted(Contract):
    """Arcade's ``ValidateCustomVerifierResponse``: where to send the browser to run the test."""

    flow_id: str
    next_uri: str

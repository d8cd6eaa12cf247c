"""Authorizer settings, taken from the shared settings once at start."""

from __future__ import annotations

from dataclasses import dataclass

from services.authorizer.domain import VerificationMode, origin_of
from shared.contracts.authorization import VERIFY_CALLBACK_PATH
from shared.runtime.config import OidcVerifierConfig
from shared.runtime.settings import Settings

#: A finished authorization stays readable through /v1/auth/status this long.
RECORD_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class AuthorizerSettings:
    """What the authorizations need to know about the deployment.

    Attributes:
        public_url: The gateway's external base URL.
        redirect_uri: ``<public_url>/oauth/callback``, registered at every provider.
        state_ttl_seconds: How long a state (and a verification flow) is accepted.
        verification: How the browser user is matched to the user an authorization was started for.
        verifier_url: The app's verifier page (custom mode).
        oidc: The platform's OpenID provider (oidc mode).
        sign_in_redirect_uri: ``<public_url>/oauth/verify/callback``, registered there.
        http_timeout_seconds: Per request to a provider's token or user-info endpoint.
        exchange_grace_seconds: How much longer than that a callback may spend exchanging
            its code before the sweeper fails it as interrupted (``exchange_deadline_seconds``).
        record_ttl_seconds: How long authorization records are kept.
        sweep_interval_seconds: How often each replica looks for overdue authorizations.
        next_uri_origins: Where the browser may be sent after consent: the configured
            origins and the engine's own; None (development) allows any.
    """

    public_url: str
    redirect_uri: str
    state_ttl_seconds: int
    verification: VerificationMode
    verifier_url: str | None
    oidc: OidcVerifierConfig | None = None
    sign_in_redirect_uri: str = ""
    http_timeout_seconds: float = 10.0
    exchange_grace_seconds: float = 5.0
    record_ttl_seconds: int = RECORD_TTL_SECONDS
    sweep_interval_seconds: float = 1.0
    next_uri_origins: frozenset[str] | None = None

    @property
    def exchange_deadline_seconds(self) -> float:
        """How long after a callback takes its authorization the exchange is given up."""
        return self.http_timeout_seconds + self.exchange_grace_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthorizerSettings:
        auth = settings.engine.auth
        return cls(
            public_url=settings.public_url,
            redirect_uri=settings.redirect_uri,
            state_ttl_seconds=auth.state_ttl_seconds,
            verification=auth.verification.mode,
            verifier_url=auth.verification.verifier_url,
            oidc=auth.verification.oidc,
            sign_in_redirect_uri=f"{settings.public_url}{VERIFY_CALLBACK_PATH}",
            http_timeout_seconds=settings.runtime.provider_timeout,
            exchange_grace_seconds=settings.runtime.exchange_grace,
            next_uri_origins=None
            if settings.development
            else frozenset({origin_of(settings.public_url), *map(origin_of, auth.next_uri_origins)}),
        )

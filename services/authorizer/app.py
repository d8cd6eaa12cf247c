"""Composition root of the authorizer service."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from faststream import FastStream

from services.authorizer import handlers
from services.authorizer.adapters import RedisAuthorizationStore
from services.authorizer.admin import Admin
from services.authorizer.authorizations import Authorizations
from services.authorizer.in_flight import InFlightReader
from services.authorizer.oidc_sign_in import OidcSignIn
from services.authorizer.revocation import Revocations
from services.authorizer.session_settings import SessionVerification, VerificationChoice
from services.authorizer.settings import AuthorizerSettings
from services.authorizer.settings_store import RedisChoiceStore
from services.authorizer.sign_in import SignIns
from services.authorizer.sweeper import Sweeper
from services.authorizer.verification import Verifications
from shared.bus.messaging import RpcClient
from shared.contracts.common import utcnow
from shared.contracts.events import Event
from shared.providers.client import ProviderClient
from shared.providers.http import ProviderHttp
from shared.providers.projects import ProjectProviders
from shared.runtime import infra
from shared.runtime.addresses import literal_address
from shared.runtime.infra import Infra
from shared.runtime.keyspace import Keyspace
from shared.runtime.logging import get_logger
from shared.runtime.service import Service
from shared.runtime.settings import Settings
from shared.tokens.freshness import fresh_token
from shared.tokens.model import StoredToken

log = get_logger(__name__)


class _Relay:
    """Wakes the outbox relay once it exists (it is created when the broker connected)."""

    def __init__(self, parts: Infra) -> None:
        self._parts = parts

    def wake(self, events: Sequence[Event] = ()) -> None:
        if self._parts.relay is None:
            return
        if events:
            self._parts.relay.send_now(list(events))
        else:
            self._parts.relay.wake()


class _Fresh:
    """``fresh_token`` bound to this service's store, NATS client and refresh policy."""

    def __init__(self, parts: Infra) -> None:
        self._parts = parts
        self._policy = parts.settings.refresh_policy()

    async def __call__(self, *, user_id: str, provider_id: str, project: str) -> StoredToken | None:
        rpc = self._parts.rpc
        assert isinstance(rpc, RpcClient), "infra.start() runs before any message is handled"
        return await fresh_token(
            self._parts.tokens, rpc, self._policy, user_id=user_id, provider_id=provider_id, project=project
        )


def create_service(settings: Settings) -> Service:
    """Build the authorizer app: broker, Redis, providers, handlers; nothing connects until it runs."""
    parts = infra.build(settings, service="authorizer")
    config = AuthorizerSettings.from_settings(settings)
    registry = ProjectProviders(
        settings.engine.auth.providers,
        parts.redis,
        parts.cipher,
        prefix=settings.keyspace().grouped("providers"),
    )
    http = ProviderHttp(allow_private=settings.engine.security.allow_private_targets)
    store = RedisAuthorizationStore(
        parts.redis,
        parts.cipher,
        parts.tokens,
        prefix=settings.runtime.key_prefix,
        record_ttl_seconds=config.record_ttl_seconds,
    )
    relay = _Relay(parts)
    sessions = SessionVerification(
        RedisChoiceStore(parts.redis, prefix=settings.runtime.key_prefix),
        default=VerificationChoice(config.verification, config.verifier_url),
        skip_allowed=settings.development or config.verification == "unsafe_skip",
        test_ttl_seconds=config.state_ttl_seconds,
    )
    client = ProviderClient(http, clock=utcnow, timeout=config.http_timeout_seconds)
    authorizations = Authorizations(
        settings=config,
        providers=registry,
        tokens=parts.tokens,
        fresh=_Fresh(parts),
        store=store,
        client=client,
        notifier=relay,
        clock=utcnow,
        keyspace=parts.tokens.keyspace,
        sessions=sessions,
        policy=settings.refresh_policy(),
    )
    sweeper = Sweeper(authorizations, interval=config.sweep_interval_seconds)
    admin = Admin(
        registry=registry,
        tokens=parts.tokens,
        notifier=relay,
        redirect_uri=config.redirect_uri,
        clock=utcnow,
        revocations=Revocations(client),
        allow_private_targets=settings.engine.security.allow_private_targets,
    )
    verifications = Verifications(authorizations)
    # The platform's OpenID provider is the operator's own (often inside their network), named
    # in engine.yaml, never by an API caller: its calls are not held to the outbound address policy.
    sign_in_http = ProviderHttp(allow_private=True, limit=10)
    sign_ins = _sign_ins(config, verifications, sign_in_http)
    in_flight = InFlightReader(
        parts.redis, Keyspace(settings.runtime.key_prefix, parts.tokens.keyspace.shards)
    )
    handlers.register(parts.server, authorizations, verifications, admin, sign_ins, in_flight, sessions)
    app = FastStream(parts.broker, logger=None)

    @app.after_startup
    async def started() -> None:
        await infra.start(parts)
        sweeper.start()
        if config.verification == "unsafe_skip" and not _loopback(config.public_url):
            log.warning("authorizer.unverified", detail="verification unsafe_skip on a public URL")
        log.info("authorizer.ready", redirect_uri=config.redirect_uri, verification=config.verification)

    @app.on_shutdown
    async def stopping() -> None:
        await sweeper.stop()
        await infra.stop(parts)
        await http.aclose()
        await sign_in_http.aclose()

    return Service(app, parts.server)


def _sign_ins(config: AuthorizerSettings, verifications: Verifications, http: ProviderHttp) -> SignIns | None:
    """The verification sign-in, in ``oidc`` mode."""
    if config.verification != "oidc" or config.oidc is None:
        return None
    provider = OidcSignIn(
        config.oidc, http, redirect_uri=config.sign_in_redirect_uri, timeout=config.http_timeout_seconds
    )
    return SignIns(verifications, provider, config.oidc, config.sign_in_redirect_uri)


def _loopback(url: str) -> bool:
    """True when only this machine's browsers reach ``url`` (a provider sends none from elsewhere)."""
    host = urlsplit(url).hostname or ""
    address = literal_address(host)
    return host == "localhost" or (address is not None and address.is_loopback)

"""Composition root of the authorizer service."""

from __future__ import annotations

from collections.abc import Sequence

from faststream import FastStream

from services.authorizer import handlers
from services.authorizer.adapters import RedisAuthorizationStore
from services.authorizer.admin import Admin
from services.authorizer.authorizations import Authorizations
from services.authorizer.settings import AuthorizerSettings
from services.authorizer.sweeper import Sweeper
from services.authorizer.verification import Verifications
from shared.bus.messaging import RpcClient
from shared.contracts.common import utcnow
from shared.contracts.events import Event
from shared.providers.client import ProviderClient
from shared.providers.http import ProviderHttp
from shared.providers.registry import ProviderRegistry
from shared.runtime import infra
from shared.runtime.infra import Infra
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

    async def __call__(self, *, user_id: str, provider_id: str) -> StoredToken | None:
        rpc = self._parts.rpc
        assert isinstance(rpc, RpcClient), "infra.start() runs before any message is handled"
        return await fresh_token(
            self._parts.tokens, rpc, self._policy, user_id=user_id, provider_id=provider_id
        )


def create_service(settings: Settings) -> Service:
    """Build the authorizer app: broker, Redis, providers, handlers; nothing connects until it runs."""
    parts = infra.build(settings, service="authorizer")
    config = AuthorizerSettings.from_settings(settings)
    registry = ProviderRegistry(
        settings.engine.auth.providers, parts.redis, parts.cipher, prefix=settings.runtime.key_prefix
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
    authorizations = Authorizations(
        settings=config,
        providers=registry,
        tokens=parts.tokens,
        fresh=_Fresh(parts),
        store=store,
        client=ProviderClient(http, clock=utcnow, timeout=config.http_timeout_seconds),
        notifier=relay,
        clock=utcnow,
    )
    sweeper = Sweeper(authorizations, interval=config.sweep_interval_seconds)
    admin = Admin(
        registry=registry,
        tokens=parts.tokens,
        notifier=relay,
        redirect_uri=config.redirect_uri,
        clock=utcnow,
        allow_private_targets=settings.engine.security.allow_private_targets,
    )
    handlers.register(parts.server, authorizations, Verifications(authorizations), admin)
    app = FastStream(parts.broker, logger=None)

    @app.after_startup
    async def started() -> None:
        await infra.start(parts)
        sweeper.start()
        if config.verification == "builtin" and not settings.development:
            log.warning("authorizer.builtin_verifier", detail="the built-in user verifier is for development")
        log.info("authorizer.ready", redirect_uri=config.redirect_uri, verification=config.verification)

    @app.on_shutdown
    async def stopping() -> None:
        await sweeper.stop()
        await infra.stop(parts)
        await http.aclose()

    return Service(app, parts.server)

"""Token refresher replicas wired as the service wires them, with real adapters, for tests on real
Redis and real token endpoints; and the made-up tokens and provider entries they refresh.

Real grants from the test OAuth server are in ``tests/support/oauth_grants.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from services.token_refresher.adapters import (
    EnabledProviders,
    RedisTokens,
    SystemClock,
)
from services.token_refresher.leases import Leases
from services.token_refresher.refresher import Refresher
from services.token_refresher.scheduler import Scheduler
from services.token_refresher.settings import RefresherSettings
from shared.providers.catalog import parse_entry
from shared.providers.client import ProviderClient
from shared.providers.http import ProviderHttp
from shared.providers.projects import ProjectProviders
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore

CIPHER = Cipher([RootKey("k1", "refresher-test-root-key-0123456789abcdef", default=True)])
POLICY = RefreshPolicy(margin_seconds=300, lifetime_fraction=0.25)


@dataclass
class Replica:
    """One refresher replica: its own Redis connection pool, HTTP client and single-flight map."""

    redis: Redis
    store: TokenStore
    tokens: RedisTokens
    refresher: Refresher
    scheduler: Scheduler
    leases: Leases
    client: ProviderHttp

    async def close(self) -> None:
        await self.scheduler.stop()
        await self.leases.stop()
        await self.client.aclose()
        await self.redis.aclose()


def replica(
    redis_url: str, prefix: str, entries: list[dict[str, Any]], settings: RefresherSettings | None = None
) -> Replica:
    config = settings or RefresherSettings(poll_seconds=0.2)
    redis = create_redis(redis_url)
    store = TokenStore(redis, CIPHER, POLICY, prefix=prefix)
    tokens = RedisTokens(store, redis, lock_ttl=config.lock_ttl_seconds, lock_wait=config.lock_wait_seconds)
    client = ProviderHttp(allow_private=True, limit=64)
    clock = SystemClock()
    leases = Leases(tokens, clock, config)
    refresher = Refresher(
        tokens=tokens,
        providers=EnabledProviders(
            ProjectProviders([parse_entry(e) for e in entries], redis, CIPHER, prefix=prefix)
        ),
        client=ProviderClient(client, clock=clock.now),
        clock=clock,
        policy=POLICY,
        settings=config,
        leases=leases,
    )
    scheduler = Scheduler(tokens, refresher, clock, config, leases)
    leases.start()
    return Replica(redis, store, tokens, refresher, scheduler, leases, client)


def fake_endpoint_entry(url: str, *, id: str = "fake") -> dict[str, Any]:
    """A custom provider whose refresh goes to our local token endpoint."""
    return {
        "id": id,
        "client_id": "fake-client",
        "client_secret": "fake-secret",
        "oauth2": {
            "authorize_request": {
                "endpoint": "http://127.0.0.1:9/authorize",
                "params": {"response_type": "code"},
            },
            "token_request": {"endpoint": url},
            "refresh_token_request": {
                "endpoint": url,
                "auth_method": "client_secret_basic",
                "params": {"grant_type": "refresh_token", "refresh_token": "{{refresh_token}}"},
            },
        },
    }


def stored(access: str, refresh: str | None, *, expires_in: float, issued_ago: float = 3600) -> StoredToken:
    now = datetime.now(UTC)
    return StoredToken(
        access_token=access,
        refresh_token=refresh,
        issued_at=now - timedelta(seconds=issued_ago),
        expires_at=now + timedelta(seconds=expires_in),
        scopes=["openid"],
    )

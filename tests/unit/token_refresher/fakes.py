"""In-memory stand-ins for the refresher's ports, and a provider pointing nowhere real."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from services.token_refresher.leases import Leases
from services.token_refresher.ports import Claim, Locked
from services.token_refresher.refresher import Refresher
from services.token_refresher.settings import RefresherSettings
from shared.contracts.events import Event
from shared.errors import ProviderUnavailable
from shared.providers.catalog import resolve
from shared.providers.client import ProviderClient
from shared.providers.http import ProviderResponse
from shared.providers.models import Provider
from shared.providers.oauth import HttpRequestSpec
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of
from shared.tokens.store import Connection

T0 = datetime(2030, 1, 1, tzinfo=UTC)
TOKEN_URL = "https://auth.example/token"
USERINFO_URL = "https://auth.example/me"


def provider(*, user_info_on_refresh: bool = False, response_map: dict[str, str] | None = None) -> Provider:
    refresh: dict[str, Any] = {
        "endpoint": TOKEN_URL,
        "auth_method": "client_secret_basic",
        "params": {"grant_type": "refresh_token", "refresh_token": "{{refresh_token}}"},
    }
    if response_map:
        refresh["response_map"] = response_map
    oauth2: dict[str, Any] = {
        "authorize_request": {
            "endpoint": "https://auth.example/authorize",
            "params": {"response_type": "code"},
        },
        "token_request": {"endpoint": TOKEN_URL},
        "refresh_token_request": refresh,
        "user_info_request": {
            "endpoint": USERINFO_URL,
            "triggers": {"on_token_grant": True, "on_token_refresh": user_info_on_refresh},
        },
    }
    return resolve({"id": "acme", "client_id": "cid", "client_secret": "csecret", "oauth2": oauth2})


def token(*, expires_in: float = -1, refresh_token: str | None = "rt-0", **kw: Any) -> StoredToken:
    """A token that expired (or expires) ``expires_in`` seconds after T0, issued an hour earlier."""
    return StoredToken(
        access_token="at-0",
        refresh_token=refresh_token,
        issued_at=T0 - timedelta(hours=1),
        expires_at=T0 + timedelta(seconds=expires_in),
        scopes=["read"],
        **kw,
    )


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now
        self.mono = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.mono += seconds
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)


class FakeTokens:
    def __init__(self, policy: RefreshPolicy) -> None:
        self.policy = policy
        self.tokens: dict[str, StoredToken] = {}
        self.meta: dict[str, Connection] = {}
        self.due: dict[str, datetime] = {}
        self.failures: dict[str, int] = defaultdict(int)
        self.events: list[Event] = []
        self.puts = 0
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.locks_taken = 0
        self.claim_calls = 0
        self.unlocked_by_write = 0
        self.renewals: list[tuple[list[Locked], list[Claim]]] = []
        self.held: list[Locked] = []  # every lock handed out, as the refresher left it
        self.interrupted: dict[str, datetime] = {}  # connection id -> start of an unsettled attempt

    def seed(self, user_id: str, provider_id: str, stored: StoredToken) -> str:
        connection_id = connection_id_of(user_id, provider_id)
        self.tokens[connection_id] = stored
        self.meta[connection_id] = Connection(
            connection_id, user_id, provider_id, "oauth2", [], stored.status, "", "", None
        )
        due = self.policy.due_at(stored)
        if due is not None and stored.refresh_token and stored.status == "active":
            self.due[connection_id] = due
        return connection_id

    async def get(self, user_id: str, provider_id: str, *, project: str = "default") -> StoredToken | None:
        return self.tokens.get(connection_id_of(user_id, provider_id))

    async def put(self, user_id, provider_id, stored, *, events, unlock=None, project="default") -> str:
        self.puts += 1
        if unlock is not None:
            unlock.released = True
            self.unlocked_by_write += 1
        connection_id = self.seed(user_id, provider_id, stored)
        if connection_id in self.due and stored.status != "active":
            del self.due[connection_id]
        if stored.status != "active":
            self.due.pop(connection_id, None)
        self.failures[connection_id] = 0
        self.events.extend(events)
        return self.version(connection_id)

    def version(self, connection_id: str) -> str:
        """Stands for the stored record's version: one per write."""
        return f"v{self.puts}-{connection_id}"

    async def put_if_current(self, user_id, provider_id, stored, version, *, project="default") -> bool:
        if self.version(connection_id_of(user_id, provider_id)) != version:
            return False
        await self.put(user_id, provider_id, stored, events=[])
        return True

    async def renew(self, locks, claims, lease_until):
        self.renewals.append((list(locks), list(claims)))
        for claim in claims:
            if self.due.get(claim.connection_id) == claim.lease_until:
                self.due[claim.connection_id] = lease_until
        return [True] * len(locks), [self.due.get(c.connection_id) == lease_until for c in claims]

    async def add_event(self, event: Event) -> None:
        self.events.append(event)

    async def reschedule(self, connection_id: str, at: datetime) -> None:
        if connection_id in self.due:
            self.due[connection_id] = at

    async def unschedule(self, connection_id: str) -> None:
        self.due.pop(connection_id, None)

    async def record_failure(self, connection_id: str) -> int:
        self.failures[connection_id] += 1
        return self.failures[connection_id]

    @asynccontextmanager
    async def locked(
        self, user_id: str, provider_id: str, *, project: str = "default"
    ) -> AsyncIterator[Locked | None]:
        connection_id = connection_id_of(user_id, provider_id)
        async with self.locks[connection_id]:
            self.locks_taken += 1
            interrupted = self.interrupted.pop(connection_id, None)
            lock = Locked(connection_id, "owner", self.tokens.get(connection_id), "marker", interrupted)
            self.held.append(lock)
            yield lock

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        self.claim_calls += 1
        ready = sorted((at, connection_id) for connection_id, at in self.due.items() if at <= now)[:limit]
        for _, connection_id in ready:
            self.due[connection_id] = lease_until
        return [self._claim(connection_id, at, lease_until) for at, connection_id in ready]

    def _claim(self, connection_id: str, due: datetime, lease_until: datetime) -> Claim:
        meta = self.meta.get(connection_id)
        if meta is None:
            return Claim(connection_id, due, lease_until)
        return Claim(connection_id, due, lease_until, meta.user_id, meta.provider_id)

    async def unclaim(self, claims: list[Claim]) -> None:
        for claim in claims:
            if self.due.get(claim.connection_id) == claim.lease_until:
                self.due[claim.connection_id] = claim.due

    async def next_due(self) -> datetime | None:
        return min(self.due.values(), default=None)


class FakeProviders:
    def __init__(self, *providers: Provider) -> None:
        self.by_id = {p.id: p for p in providers}

    async def get(self, provider_id: str, project: str = "default") -> Provider | None:
        return self.by_id.get(provider_id)


class FakeEndpoint:
    """Answers from a script: each item is (status, json body, headers) or an exception to raise."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.sent: list[HttpRequestSpec] = []
        self.calls = 0
        self.gate: asyncio.Event | None = None

    def then(self, status: int = 200, body: dict[str, Any] | None = None, **headers: str) -> FakeEndpoint:
        self.script.append((status, body or {}, headers))
        return self

    def fail(self, error: Exception) -> FakeEndpoint:
        self.script.append(error)
        return self

    async def send(self, spec: HttpRequestSpec, *, timeout: float) -> ProviderResponse:
        self.sent.append(spec)
        if self.gate is not None:
            await self.gate.wait()
        if spec.url == USERINFO_URL:
            return ProviderResponse(
                200, "application/json", json.dumps({"sub": "alice", "n": len(self.sent)}).encode()
            )
        self.calls += 1
        step = self.script.pop(0) if self.script else (200, {"access_token": f"at-{self.calls}"}, {})
        if isinstance(step, Exception):
            raise step
        status, body, headers = step
        retry_after = float(headers["retry_after"]) if "retry_after" in headers else None
        return ProviderResponse(status, "application/json", json.dumps(body).encode(), retry_after)


def timeout_error() -> ProviderUnavailable:
    return ProviderUnavailable("timed out calling https://auth.example/token")


class Kit:
    """A refresher wired to fakes."""

    def __init__(self, *, settings: RefresherSettings | None = None, **provider_kw: Any) -> None:
        self.policy = RefreshPolicy(margin_seconds=300, lifetime_fraction=0.25)
        self.clock = FakeClock()
        self.tokens = FakeTokens(self.policy)
        self.provider = provider(**provider_kw)
        self.endpoint = FakeEndpoint()
        self.settings = settings or RefresherSettings()
        self.leases = Leases(self.tokens, self.clock, self.settings)
        self.refresher = Refresher(
            tokens=self.tokens,
            providers=FakeProviders(self.provider),
            client=ProviderClient(self.endpoint, clock=self.clock.now),
            clock=self.clock,
            policy=self.policy,
            settings=self.settings,
            leases=self.leases,
            rand=lambda: 0.5,
        )

    def stored(self, user_id: str = "alice") -> StoredToken:
        return self.tokens.tokens[connection_id_of(user_id, "acme")]

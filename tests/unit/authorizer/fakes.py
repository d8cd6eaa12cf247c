"""In-memory stand-ins for the authorizer's ports; they record what happened."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.authorizer.authorizations import Authorizations
from services.authorizer.domain import AuthorizationRecord, state_digest
from services.authorizer.ports import StateClaim
from services.authorizer.settings import AuthorizerSettings
from shared.errors import NotFound
from shared.providers.catalog import resolve
from shared.providers.models import Provider, TokenGrant
from shared.tokens.model import StoredToken
from tests.support.provider_examples import hooli_entry


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


class MemoryAuthorizationStore:
    def __init__(self) -> None:
        self.records: dict[str, AuthorizationRecord] = {}
        self.states: dict[str, StateClaim] = {}
        self.refs: dict[str, str] = {}
        self.flows: dict[str, str] = {}
        self.events: list = []

    async def create(self, record, *, state, ttl_seconds):
        self.records[record.id] = record
        self.states[state_digest(state)] = StateClaim(record.id, record.provider_id, record)
        self.refs[state_digest(state)] = record.id

    async def get(self, authorization_id):
        return self.records.get(authorization_id)

    async def save(self, record, *, events=()):
        self.records[record.id] = record
        self.events.extend(events)

    async def consume_state(self, state):
        return self.states.pop(state_digest(state), None)

    async def state_owner(self, state):
        return self.refs.get(state_digest(state))

    async def hold_for_verification(self, record, *, ttl_seconds):
        self.records[record.id] = record
        self.flows[record.flow_id] = record.id

    async def take_flow(self, flow_id):
        return self.flows.pop(flow_id, None)

    async def peek_flow(self, flow_id):
        return self.flows.get(flow_id)


class FakeProviderClient:
    def __init__(self) -> None:
        self.exchanged: list[str] = []
        self.error: Exception | None = None

    async def exchange(self, provider, *, code, redirect_uri, code_verifier):
        self.exchanged.append(code)
        if self.error:
            raise self.error
        return TokenGrant(access_token=f"token-for-{code}", scopes=None)

    async def user_info(self, provider, access_token):
        return {"sub": "someone"}


class MemoryTokens:
    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str], StoredToken] = {}
        self.events: list = []

    async def get(self, user_id, provider_id):
        return self.tokens.get((user_id, provider_id))

    async def put(self, user_id, provider_id, token, *, events=None):
        self.tokens[(user_id, provider_id)] = token
        self.events.extend(events or [])


class OneProvider:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    async def get(self, provider_id):
        return self.provider if provider_id == self.provider.id else None

    async def find(self, *, id, builtin_id):
        if (id or builtin_id) != self.provider.id:
            raise NotFound("no such provider")
        return self.provider


class Wakes:
    def __init__(self) -> None:
        self.count = 0
        self.events: list = []

    def wake(self, events=()) -> None:
        self.count += 1
        self.events.extend(events)


class Later:
    """Runs the work as production does, after the caller's turn; ``settle`` waits for it."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task] = []

    def run(self, work, *, name) -> None:
        self.tasks.append(asyncio.ensure_future(work))

    async def settle(self) -> None:
        await asyncio.gather(*self.tasks)


def make_authorizations(verification="unsafe_skip") -> Authorizations:
    tokens = MemoryTokens()

    async def fresh(*, user_id, provider_id):
        return tokens.tokens.get((user_id, provider_id))

    return Authorizations(
        settings=AuthorizerSettings(
            public_url="http://gw",
            redirect_uri="http://gw/oauth/callback",
            state_ttl_seconds=600,
            verification=verification,
            verifier_url=None,
        ),
        providers=OneProvider(resolve(hooli_entry())),
        tokens=tokens,
        fresh=fresh,
        store=MemoryAuthorizationStore(),
        client=FakeProviderClient(),
        notifier=Wakes(),
        later=Later(),
        clock=Clock(),
    )

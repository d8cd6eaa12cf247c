"""In-memory stand-ins for the authorizer's ports; they record what happened."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from services.authorizer.authorizations import Authorizations
from services.authorizer.domain import AuthorizationRecord, check_transition, state_digest
from services.authorizer.ports import StateClaim, Transition
from services.authorizer.settings import AuthorizerSettings
from services.authorizer.verification import Verifications
from shared.errors import InvalidGrant, NotFound
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


class MemoryTokens:
    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str], StoredToken] = {}
        self.events: list = []

    async def get(self, user_id, provider_id, *, project="default"):
        return self.tokens.get((user_id, provider_id))

    async def put(self, user_id, provider_id, token, *, events=None, project="default"):
        self.tokens[(user_id, provider_id)] = token
        self.events.extend(events or [])


class MemoryAuthorizationStore:
    """Compare-and-set on the stage like the Redis store; completions write to ``tokens``."""

    def __init__(self, tokens: MemoryTokens) -> None:
        self.tokens = tokens
        self.records: dict[str, AuthorizationRecord] = {}
        self.states: dict[str, StateClaim] = {}
        self.refs: dict[str, str] = {}
        self.flows: dict[str, str] = {}
        self.deadlines: dict[str, datetime] = {}
        self.events: list = []

    async def create(self, record, *, state, ttl_seconds):
        self.records[record.id] = record
        self.states[state_digest(state)] = StateClaim(record.id, record.provider_id, record)
        self.refs[state_digest(state)] = record.id

    async def get(self, authorization_id):
        return self.records.get(authorization_id)

    def _swap(self, expected, record) -> Transition:
        check_transition(expected, record.stage)
        current = self.records.get(record.id)
        if current is None or current.stage != expected:
            return Transition(applied=False, record=current)
        self.records[record.id] = record
        if record.deadline_at is None:
            self.deadlines.pop(record.id, None)
        else:
            self.deadlines[record.id] = record.deadline_at
        return Transition(applied=True, record=record)

    async def transition(self, expected, record, *, events=(), flow_ttl_seconds=None):
        done = self._swap(expected, record)
        if done.applied:
            self.events.extend(events)
            if record.flow_id is not None and flow_ttl_seconds is not None:
                self.flows[record.flow_id] = record.id
        return done

    async def claim(self, state, record):
        if state_digest(state) not in self.states:
            return None
        return self._swap("consent", record)

    async def complete(self, expected, record, token, *, events):
        done = self._swap(expected, record)
        if done.applied:
            await self.tokens.put(record.user_id, record.provider_id, token, events=list(events))
        return done

    async def find_state(self, state):
        return self.states.get(state_digest(state))

    async def state_owner(self, state):
        return self.refs.get(state_digest(state))

    async def peek_flow(self, flow_id):
        return self.flows.get(flow_id)

    async def overdue(self, now, *, limit):
        due = sorted((at, auth_id) for auth_id, at in self.deadlines.items() if at <= now)
        return [auth_id for _, auth_id in due[:limit]]

    async def forget_deadline(self, authorization_id):
        self.deadlines.pop(authorization_id, None)


class FakeProviderClient:
    def __init__(self) -> None:
        self.exchanged: list[str] = []
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None  # when set, an exchange waits for it to open

    async def exchange(self, provider, *, code, redirect_uri, code_verifier):
        self.exchanged.append(code)
        if self.gate is not None:
            await self.gate.wait()
        if self.error:
            raise self.error
        return TokenGrant(access_token=f"token-for-{code}", scopes=None)

    async def user_info(self, provider, access_token):
        return {"sub": "someone"}


class OneProvider:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    async def get(self, provider_id, project="default"):
        return self.provider if provider_id == self.provider.id else None

    async def find(self, *, id, builtin_id, project="default"):
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


def make_authorizations(verification="unsafe_skip", *, clock=None) -> Authorizations:
    tokens = MemoryTokens()

    async def fresh(*, user_id, provider_id, project):
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
        store=MemoryAuthorizationStore(tokens),
        client=FakeProviderClient(),
        notifier=Wakes(),
        clock=clock or Clock(),
    )


def verifications_of(authorizations: Authorizations) -> Verifications:
    return Verifications(authorizations)


ISSUER = "https://login.example.com"


class FakeSignInProvider:
    """The platform's OpenID provider: whoever ``signed_in`` names, with the nonce it was sent."""

    def __init__(self) -> None:
        self.signed_in = "alice"
        self.nonce: str | None = None
        self.refuse = False
        self.codes: list[tuple[str, str]] = []

    async def authorization_endpoint(self) -> str:
        return f"{ISSUER}/auth"

    async def claims(self, *, code: str, code_verifier: str) -> dict[str, Any]:
        self.codes.append((code, code_verifier))
        if self.refuse:
            raise InvalidGrant("the OpenID provider refused the sign-in code")
        return {"sub": self.signed_in, "nonce": self.nonce, "iss": ISSUER}

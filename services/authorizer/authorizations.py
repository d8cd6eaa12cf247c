"""Use cases of an authorization: start, status, callback (``verification.py``: confirm_user;
``outcomes.py``: complete, fail, and a callback following another actor).

An authorization: ``start`` answers ``completed`` at once when the user's token covers the
scopes; otherwise it stores a pending record and a state bound to it and to its provider.
The callback takes the record from ``consent`` to ``exchanging`` (a compare-and-set: of
two copies of one callback only one gets there), exchanges the code at that provider
only, fetches user info, then either stores the token (verification ``unsafe_skip``) or
holds it, encrypted, until ``confirm_user`` names the same user.

Every change of the record is a compare-and-set on its stage, and the final one carries
the flow's one final event: ``AuthorizationCompleted`` together with the token, or
``AuthorizationFailed``. Whoever loses a race (a second copy of the callback, a callback
behind the sweeper) answers with the record as the winner left it; a second copy of a
callback waits a while for the first one's outcome. The sweeper (``sweeper.py``) fails
records left in an intermediate stage past their deadline, e.g. by a crash.

A replica keeps the records of the flows it started (as their states hold them) until their
states expire: a callback for one of them claims it in one step that also checks the state,
instead of reading the state and then claiming (one Redis round trip fewer before the exchange).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cachetools import TTLCache

from services.authorizer import callback_pages, domain, metrics
from services.authorizer.domain import AuthorizationRecord, AuthorizationSecrets
from services.authorizer.outcomes import AuthorizationOutcomes
from services.authorizer.ports import (
    AuthorizationStore,
    FreshTokens,
    Notifier,
    ProviderCalls,
    Providers,
    Tokens,
    Transition,
)
from services.authorizer.provider_exchange import granted, user_info_of
from services.authorizer.session_settings import SessionVerification, VerificationChoice
from services.authorizer.settings import AuthorizerSettings
from services.authorizer.status_reads import current_status
from shared.bus.answers import Cacheable
from shared.contracts.authorization import (
    Authorization,
    CallbackOutcome,
    GetAuthorization,
    OAuthCallback,
    StartAuthorization,
)
from shared.contracts.common import new_id
from shared.providers import oauth, timing
from shared.providers.models import Provider
from shared.runtime import tracing
from shared.runtime.keyspace import Keyspace
from shared.runtime.logging import get_logger
from shared.tokens.freshness import cacheable_until_due, completed_authorization
from shared.tokens.model import (
    RefreshPolicy,
    StoredToken,
    connection_id_of,
    covers,
)

log = get_logger(__name__)

#: Flows started here whose record is kept in process until their state expires: a callback
#: for one of them claims it without reading its state first (``_known``).
STARTED_KEPT = 10_000


@dataclass
class Authorizations(AuthorizationOutcomes):
    """The authorization use cases, wired to their ports in ``app.py``; how a flow ends
    (``complete``, ``fail``) and how a callback follows another actor are in ``outcomes.py``."""

    settings: AuthorizerSettings
    providers: Providers
    tokens: Tokens
    fresh: FreshTokens
    store: AuthorizationStore
    client: ProviderCalls
    notifier: Notifier
    clock: Callable[[], datetime]
    # Ids, states and flow ids name the shard of the connection they write (docs/scaling.md).
    keyspace: Keyspace = field(default_factory=Keyspace)
    # A project's own verification over engine.yaml's (session_settings.py); None: engine.yaml's alone.
    sessions: SessionVerification | None = None
    # When a token falls due for refresh: a cached status answer lives no longer (engine.yaml refresh:).
    policy: RefreshPolicy = field(default_factory=RefreshPolicy)
    # The records of flows started here, by state, as their state holds them (until it expires).
    _started: TTLCache[str, AuthorizationRecord] = field(init=False)

    def __post_init__(self) -> None:
        self._started = TTLCache(maxsize=STARTED_KEPT, ttl=self.settings.state_ttl_seconds)

    # --- start and status ---------------------------------------------------------------

    async def start(self, request: StartAuthorization) -> Authorization:
        """``completed`` with the token when the user holds one covering the scopes, else a new one."""
        need = request.requirement
        provider = await self.providers.find(id=need.id, builtin_id=need.provider_id, project=request.project)
        next_uri = domain.check_next_uri(request.next_uri, self.settings.next_uri_origins)
        wanted = domain.merge_scopes(need.scopes)
        project = request.project
        token = await self.fresh(user_id=request.user_id, provider_id=provider.id, project=project)
        if covers(token, wanted, now=self.clock()):
            # Nothing to consent to: the answer stands for the connection, no record is written.
            return completed_authorization(request.user_id, provider.id, token, project)
        stored = token or await self.tokens.get(request.user_id, provider.id, project=project)
        granted = stored.scopes if stored is not None else []
        return await self._begin(request, provider, wanted, granted, next_uri)

    async def _begin(
        self,
        request: StartAuthorization,
        provider: Provider,
        wanted: list[str],
        granted: list[str],
        next_uri: str | None,
    ) -> Authorization:
        now = self.clock()
        shard = self.keyspace.shard_of_connection(
            connection_id_of(request.user_id, provider.id, request.project)
        )
        state = self.keyspace.mint(oauth.new_state(), shard)
        verifier = oauth.new_code_verifier() if provider.oauth2.pkce.enabled else None
        scopes = domain.merge_scopes(wanted, granted)  # incremental consent asks for the union
        url = oauth.build_authorize_url(
            provider,
            redirect_uri=self.settings.redirect_uri,
            scopes=scopes,
            existing_scopes=granted,
            state=state,
            code_challenge=oauth.code_challenge_s256(verifier) if verifier else None,
        )
        record = AuthorizationRecord(
            id=self.keyspace.mint(new_id("ac"), shard, kind="ac"),
            project=request.project,
            user_id=request.user_id,
            provider_id=provider.id,
            scopes=scopes,
            url=url,
            next_uri=next_uri,
            created_at=now,
            updated_at=now,
            state_expires_at=domain.state_expiry(now, self.settings.state_ttl_seconds),
            secrets=AuthorizationSecrets(code_verifier=verifier),
            traceparent=tracing.trace_context(),
        )
        await self.store.create(record, state=state, ttl_seconds=self.settings.state_ttl_seconds)
        self._started[state] = record
        metrics.STARTED.labels(provider.id).inc()
        log.info("authorization.started", authorization_id=record.id, provider_id=provider.id)
        return domain.to_authorization(record)

    async def status(self, request: GetAuthorization) -> Authorization:
        """The authorization now; a completed one carries a fresh token.

        Raises:
            NotFound: Unknown (or long expired) authorization id, or another project's.
        """
        return (await self._status(request))[0]

    async def answer_status(self, request: GetAuthorization) -> Cacheable[Authorization] | Authorization:
        """The authorization now; a completed one carries a fresh token, and the gateway may repeat
        it until that token falls due for refresh (docs/nats.md, "The answer cache").

        Raises:
            NotFound: Unknown (or long expired) authorization id, or another project's.
        """
        authorization, token = await self._status(request)
        if authorization.status != "completed" or token is None:
            return authorization
        return cacheable_until_due(authorization, token, self.policy, now=self.clock())

    async def _status(self, request: GetAuthorization) -> tuple[Authorization, StoredToken | None]:
        return await current_status(request, store=self.store, tokens=self.tokens, fresh=self.fresh)

    # --- callback -----------------------------------------------------------------------

    async def callback(self, callback: OAuthCallback) -> CallbackOutcome:
        """Handle the provider's redirect; never exchanges a code twice or for an unknown state.

        A second copy of a callback (a double click, a browser retry, a reload after a crash)
        exchanges nothing: it waits up to ``callback.wait_seconds`` for the first one's
        outcome and answers with the authorization as it then is.
        """
        if not callback.state:
            return callback_pages.failure_outcome(None, "unknown_state")
        started = self._started.get(callback.state)
        if started is not None and (outcome := await self._known(started, callback)) is not None:
            return outcome
        claim = await self.store.find_state(callback.state)
        if claim is None:
            return await self._late(callback)
        record = claim.record or await self.store.get(claim.authorization_id)
        if record is None:
            return callback_pages.failure_outcome(claim.authorization_id, "unknown_state")
        if record.stage != "consent":
            return await self._follow(record, callback.wait_seconds)
        # What the callback sets off belongs to the authorization's trace, linked to the callback's.
        with tracing.resumed("authorization.callback", record.traceparent, **trace_attributes(record)):
            return await self._consented(record, claim.provider_id, callback)

    async def _consented(
        self, record: AuthorizationRecord, provider_id: str, callback: OAuthCallback
    ) -> CallbackOutcome:
        """The first copy of a callback: fail the flow or exchange its code."""
        reason = domain.callback_error(callback)
        if reason is not None:
            return await self._fail(record, reason, wait=callback.wait_seconds)
        provider = await self.providers.get(provider_id, record.project)  # the state's provider
        if provider is None:
            return await self._fail(record, "provider_removed", wait=callback.wait_seconds)
        if callback.iss and not domain.issuer_matches(callback.iss, provider):
            return await self._fail(record, "issuer_mismatch", wait=callback.wait_seconds)
        assert callback.code is not None  # callback_error checked it
        return await self._exchange(record, provider, callback)

    async def _known(self, record: AuthorizationRecord, callback: OAuthCallback) -> CallbackOutcome | None:
        """A callback for a flow started here: its record is at hand as its state holds it, so the
        claim checks that the state is live in the same step (one round trip before the exchange,
        not two). None when the general path answers: the callback or its provider fails the flow
        (rare), or the state is gone."""
        if domain.callback_error(callback) is not None:
            return None
        provider = await self.providers.get(record.provider_id, record.project)
        if provider is None or (callback.iss and not domain.issuer_matches(callback.iss, provider)):
            return None
        assert callback.state is not None
        with tracing.resumed("authorization.callback", record.traceparent, **trace_attributes(record)):
            taken = await self.store.claim(callback.state, self._claiming(record))
            return None if taken is None else await self._claimed(taken, provider, callback)

    async def _late(self, callback: OAuthCallback) -> CallbackOutcome:
        """A callback whose state is no longer live: expired unused, or the flow went on."""
        assert callback.state is not None
        auth_id = await self.store.state_owner(callback.state)
        record = await self.store.get(auth_id) if auth_id else None
        if record is None:
            return callback_pages.failure_outcome(None, "unknown_state")
        if record.stage == "consent":  # never used, and now too late to use
            return await self._fail(record, "state_expired", wait=callback.wait_seconds)
        return await self._follow(record, callback.wait_seconds)

    async def _exchange(
        self, record: AuthorizationRecord, provider: Provider, callback: OAuthCallback
    ) -> CallbackOutcome:
        taken = await self.store.transition("consent", self._claiming(record))
        return await self._claimed(taken, provider, callback)

    def _claiming(self, record: AuthorizationRecord) -> AuthorizationRecord:
        """The record as the callback that exchanges its code takes it, until its deadline."""
        now = self.clock()
        return record.claimed(
            now, deadline_at=now + timedelta(seconds=self.settings.exchange_deadline_seconds)
        )

    async def _claimed(
        self, taken: Transition, provider: Provider, callback: OAuthCallback
    ) -> CallbackOutcome:
        """After the claim: exchange the code if it was this callback's, else follow the winner."""
        if not taken.applied:
            return await self._followed(taken, callback.wait_seconds)
        claimed = taken.record
        assert claimed is not None
        assert claimed.deadline_at is not None
        assert callback.code is not None
        deadline = claimed.deadline_at
        # The stored token and the project's verification are read while the provider answers:
        # neither read is then a Redis round trip on the way from the callback to its answer.
        with timing.upstream_times() as upstream:
            grant, previous, choice = await asyncio.gather(
                granted(
                    self.client,
                    provider,
                    code=callback.code,
                    redirect_uri=self.settings.redirect_uri,
                    code_verifier=claimed.secrets.code_verifier,
                    until=deadline,
                    now=self.clock(),
                ),
                self.tokens.get(claimed.user_id, provider.id, project=claimed.project),
                self._verification(claimed.project),
            )
            if isinstance(grant, str):
                return await self._fail(claimed, grant, wait=callback.wait_seconds)
            user_info = await user_info_of(
                self.client, provider, grant.access_token, until=deadline, now=self.clock()
            )
        metrics.provider_timed(claimed.id, provider.id, upstream)
        token = domain.stored_token(
            grant, previous=previous, requested=claimed.scopes, user_info=user_info, now=self.clock()
        )
        if choice.mode != "unsafe_skip":
            return await self._hold(claimed, token, choice)
        done = await self.complete("exchanging", claimed, provider, token)
        if not done.applied:
            return await self._followed(done, 0)
        assert done.record is not None
        return callback_pages.success_outcome(done.record, domain.to_authorization(done.record, token))

    async def _hold(
        self, claimed: AuthorizationRecord, token: StoredToken, choice: VerificationChoice
    ) -> CallbackOutcome:
        now = self.clock()
        sign_in = None
        if choice.mode == "oidc":
            sign_in = (secrets.token_urlsafe(24), oauth.new_code_verifier())
        held = claimed.held(
            now,
            flow_id=self.keyspace.mint(secrets.token_urlsafe(24), self.keyspace.shard_of(claimed.id)),
            token=token,
            deadline_at=now + timedelta(seconds=self.settings.state_ttl_seconds),
            sign_in=sign_in,
        )
        moved = await self.store.transition(
            "exchanging", held, flow_ttl_seconds=self.settings.state_ttl_seconds
        )
        if not moved.applied:
            return await self._followed(moved, 0)
        return callback_pages.current_outcome(held, self._target(choice))


def trace_attributes(record: AuthorizationRecord) -> dict[str, str]:
    """What a span of an authorization's work says about it (never the user)."""
    return {"valetkey.authorization_id": record.id, "valetkey.provider_id": record.provider_id}

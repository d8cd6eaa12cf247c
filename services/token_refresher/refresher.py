"""The refresh use case: one refresh at a time per connection, every caller served its result.

Order of protection, cheapest first:

1. in-process single-flight per (user, provider): concurrent askers in one replica share a future;
2. the cross-replica Redis lock (owner-checked, with an expiry);
3. a read of the token under the lock (sent with the lock request, one round trip): if it is
   no longer due (or, for a forced call, changed since the caller looked), someone else
   refreshed and that result is returned;
4. after ``invalid_grant``, a re-read: a refresh token that changed meanwhile means we lost
   a race, not the grant (lost-race recovery).

Crash safety: the provider's answer (new access token and rotated refresh token) is written
the moment it arrives, before anything else (user info comes after, as a second write that
lands only if no later refresh replaced the token meanwhile). The lock and the claim are short
and renewed while the refresh runs (``leases``), so a killed replica's connections are taken
over within seconds. A refresh killed after its call reached the provider leaves an in-flight
marker (see ``ports.Locked``); the next holder finds it on the same record: the outcome is
unknown, so it spends the same refresh token once more (a provider with a rotation grace
period answers it), and if that comes back ``invalid_grant`` it says so
(``refresh_outcome_unknown``) instead of reporting an ordinary revoked grant.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from services.token_refresher import domain, metrics
from services.token_refresher.domain import Decision, Failure, FailureKind
from services.token_refresher.leases import Leases
from services.token_refresher.ports import (
    Claim,
    Clock,
    Locked,
    ProviderCalls,
    Providers,
    RefreshNotes,
    Tokens,
)
from services.token_refresher.settings import RefresherSettings
from shared.contracts.common import DEFAULT_PROJECT
from shared.contracts.events import TokenRefreshed, TokenRefreshFailed
from shared.contracts.tokens import RefreshOutcome, RefreshToken
from shared.errors import ProviderUnavailable, ServiceUnavailable, ValetkeyError
from shared.providers.models import Provider, TokenGrant
from shared.providers.oauth import can_refresh
from shared.runtime.logging import get_logger
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of

log = get_logger(__name__)

_STATUS: dict[Decision, Literal["fresh", "not_refreshable", "reauthorization_required"]] = {
    Decision.FRESH: "fresh",
    Decision.NOT_REFRESHABLE: "not_refreshable",
    Decision.REAUTHORIZATION_REQUIRED: "reauthorization_required",
}


@dataclass
class _Job:
    """One refresh attempt's context (what the log line reports)."""

    user_id: str
    provider_id: str
    force: bool
    trigger: str
    due: datetime | None = None
    project: str = DEFAULT_PROJECT
    connection_id: str = field(init=False)
    calls: int = 0
    uncertain: bool = False  # a call may have spent the refresh token without our seeing the answer

    def __post_init__(self) -> None:
        self.connection_id = connection_id_of(self.user_id, self.provider_id, self.project)


class Refresher:
    """Refreshes tokens on demand and on schedule.

    Args:
        tokens: Token store, schedule and cross-replica refresh locks.
        providers: Provider configs by id.
        client: Refresh and user-info calls to providers.
        clock: Time source.
        policy: When a token is due.
        settings: Timeouts, retries, attempts.
        leases: Keeps held locks alive while a refresh runs.
        rand: Jitter source (injected so tests are deterministic).
        counts: Counts each decision per project and hour for the console (in process).
    """

    def __init__(
        self,
        *,
        tokens: Tokens,
        providers: Providers,
        client: ProviderCalls,
        clock: Clock,
        policy: RefreshPolicy,
        settings: RefresherSettings,
        leases: Leases,
        rand: Callable[[], float] = random.random,
        counts: RefreshNotes | None = None,
    ) -> None:
        self._counts = counts
        self._tokens = tokens
        self._providers = providers
        self._client = client
        self._clock = clock
        self._policy = policy
        self._settings = settings
        self._leases = leases
        self._rand = rand
        self._flights: dict[str, asyncio.Future[RefreshOutcome]] = {}

    async def on_demand(self, request: RefreshToken) -> RefreshOutcome:
        """Serve ``TOKEN_REFRESH``: refresh if due (or forced) and report the outcome.

        Raises:
            ProviderUnavailable: Transient provider failure (the old token may still be served).
            ServiceUnavailable: Another replica's refresh did not finish within the lock wait.
        """
        job = _Job(request.user_id, request.provider_id, request.force, "on_demand", project=request.project)
        return await self._single_flight(job)

    async def scheduled(self, claim: Claim) -> RefreshOutcome | None:
        """Refresh one claimed schedule entry; failures are logged and rescheduled, never raised."""
        if claim.user_id is None or claim.provider_id is None:  # the connection is gone
            await self._tokens.unschedule(claim.connection_id)
            return None
        job = _Job(claim.user_id, claim.provider_id, False, "scheduled", claim.due, claim.project)
        try:
            return await self._single_flight(job)
        except ValetkeyError:
            return None  # already logged and rescheduled where it happened

    async def _single_flight(self, job: _Job) -> RefreshOutcome:
        key = job.connection_id  # one per (project, user, provider)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._locked(job))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        # shield: a caller that gives up must not cancel the refresh the others wait for.
        return await asyncio.shield(flight)

    def _landed(self, key: str, done: asyncio.Future[RefreshOutcome]) -> None:
        if self._flights.get(key) is done:
            del self._flights[key]
        if not done.cancelled():
            done.exception()  # retrieved here so an unawaited failure is not reported as lost

    async def _locked(self, job: _Job) -> RefreshOutcome:
        seen = (
            await self._tokens.get(job.user_id, job.provider_id, project=job.project) if job.force else None
        )
        async with self._tokens.locked(job.user_id, job.provider_id, project=job.project) as lock:
            if lock is None:
                # Another replica is refreshing; the schedule entry stays leased, so its
                # put() (or the lease running out) decides the next moment.
                raise ServiceUnavailable("a refresh of this connection is already running; retry")
            try:
                with self._leases.lock(lock):
                    async with asyncio.timeout(self._settings.refresh_deadline_seconds):
                        return await self._under_lock(job, lock, seen)
            except TimeoutError:
                # A call cut off may have spent the refresh token; the lease brings a scheduled entry back.
                lock.uncertain = lock.uncertain or not lock.released
                self._log(job, "deadline_exceeded")
                raise ProviderUnavailable("the refresh took too long; retry") from None
            except asyncio.CancelledError:  # stopping: same as above
                lock.uncertain = lock.uncertain or not lock.released
                raise

    async def _under_lock(self, job: _Job, lock: Locked, seen: StoredToken | None) -> RefreshOutcome:
        token = lock.token
        if lock.interrupted_at is not None:
            job.uncertain = True
            log.warning(
                "refresh.outcome_unknown",
                connection_id=job.connection_id,
                previous_attempt_started_at=lock.interrupted_at.isoformat(),
                detail="an earlier refresh of this token was interrupted; trying its refresh token once more",
            )
        provider = await self._providers.get(job.provider_id, job.project)
        refreshable = (
            token is not None
            and provider is not None
            and can_refresh(provider, refresh_token=token.refresh_token, access_token=token.access_token)
        )
        now = self._clock.now()
        decision = domain.decide(
            token, now=now, policy=self._policy, refreshable=refreshable, force=job.force, seen=seen
        )
        if decision is not Decision.REFRESH or token is None or provider is None:
            return await self._settle(job, decision, token)
        return await self._refresh(job, token, provider, lock)

    async def _settle(self, job: _Job, decision: Decision, token: StoredToken | None) -> RefreshOutcome:
        """No call needed: keep the schedule consistent with what is stored and answer."""
        due = self._policy.due_at(token) if token is not None else None
        if decision is Decision.FRESH and due is not None:
            await self._tokens.reschedule(job.connection_id, due)
        elif job.trigger == "scheduled" or decision is not Decision.FRESH:
            await self._tokens.unschedule(job.connection_id)
        self._log(job, decision.value)
        expires = token.expires_at if token is not None else None
        return RefreshOutcome(status=_STATUS[decision], expires_at=expires)

    async def _refresh(
        self, job: _Job, token: StoredToken, provider: Provider, lock: Locked
    ) -> RefreshOutcome:
        try:
            grant = await self._call_with_retries(job, token, provider, lock)
        except ValetkeyError as exc:
            return await self._failed(job, token, domain.classify(exc))
        answered = self._clock.monotonic()
        # The old refresh token may be spent now: the answer is stored before anything else.
        fresh = domain.refreshed_token(token, grant, now=self._clock.now(), user_info=None)
        event = TokenRefreshed(
            user_id=job.user_id,
            provider_id=job.provider_id,
            project=job.project,
            connection_id=job.connection_id,
            expires_at=fresh.expires_at,
        )
        version = await self._tokens.put(
            job.user_id, job.provider_id, fresh, events=[event], unlock=lock, project=job.project
        )
        unsaved_ms = round((self._clock.monotonic() - answered) * 1000, 2)
        await self._add_user_info(job, provider, grant, fresh, version)
        self._log(
            job,
            "refreshed",
            rotated=grant.refresh_token is not None,
            answer_to_write_ms=unsaved_ms,
            after_unknown_outcome=job.uncertain,
        )
        return RefreshOutcome(status="refreshed", expires_at=fresh.expires_at)

    async def _add_user_info(
        self, job: _Job, provider: Provider, grant: TokenGrant, fresh: StoredToken, version: str
    ) -> None:
        """Fetch user info when the provider asks for it on refresh; store it unless a later write came."""
        user_info = await self._user_info(job, provider, grant)
        if user_info is None:
            return
        updated = fresh.model_copy(update={"user_info": user_info})
        if not await self._tokens.put_if_current(
            job.user_id, job.provider_id, updated, version, project=job.project
        ):
            log.info("refresh.user_info_superseded", connection_id=job.connection_id)

    async def _call_with_retries(
        self, job: _Job, token: StoredToken, provider: Provider, lock: Locked
    ) -> TokenGrant:
        """Call the token endpoint; quick retries for transient failures within the inline budget."""
        settings = self._settings
        deadline = self._clock.monotonic() + settings.inline_budget_seconds
        while True:
            if lock.lost:
                # Another holder may be spending this refresh token right now: never send it twice.
                raise ServiceUnavailable("the refresh lock expired under this refresh; retry")
            job.calls += 1
            remaining = deadline - self._clock.monotonic()
            try:
                return await self._client.refresh(
                    provider,
                    refresh_token=token.refresh_token,
                    access_token=token.access_token,
                    timeout=min(settings.http_timeout_seconds, remaining),
                )
            except ValetkeyError as exc:
                if domain.may_have_spent(exc):
                    job.uncertain = lock.uncertain = True
                failure = domain.classify(exc)
                if failure.kind is not FailureKind.TRANSIENT or job.calls >= settings.inline_attempts:
                    raise
                delay = domain.retry_delay(
                    job.calls,
                    failure.retry_after,
                    base=settings.inline_base_seconds,
                    cap=2.0,
                    rand=self._rand,
                )
                if delay >= deadline - self._clock.monotonic() - 0.1:
                    raise
                await self._clock.sleep(delay)

    async def _user_info(self, job: _Job, provider: Provider, grant: TokenGrant) -> dict[str, Any] | None:
        """Fresh user info when the provider asks for it on refresh; None keeps the stored one."""
        request = provider.oauth2.user_info_request
        if request is None or not request.triggers.on_token_refresh:
            return None
        try:
            return await self._client.user_info(
                provider, grant.access_token, timeout=self._settings.http_timeout_seconds
            )
        except ValetkeyError as exc:
            # The new token pair is stored already; the stored user info stays.
            log.warning("refresh.user_info_failed", connection_id=job.connection_id, error=exc.code)
            return None

    async def _failed(self, job: _Job, used: StoredToken, failure: Failure) -> RefreshOutcome:
        if failure.kind is FailureKind.REAUTHORIZE:
            current = await self._tokens.get(job.user_id, job.provider_id, project=job.project)
            if domain.lost_race(used.refresh_token, current):
                self._log(job, "refreshed_elsewhere", error=failure.code)
                return RefreshOutcome(status="refreshed", expires_at=current.expires_at if current else None)
            if job.uncertain:
                # Maybe revoked for reuse: an earlier call spent this refresh token and its answer was lost.
                log.error("refresh.grant_lost_after_unknown_outcome", connection_id=job.connection_id)
                failure = Failure(FailureKind.REAUTHORIZE, domain.OUTCOME_UNKNOWN)
            return await self._reauthorize(job, current or used, failure)
        await self._retry_later(job, failure)
        raise ProviderUnavailable(
            f"refresh failed ({failure.code}); it will be retried", provider_error=failure.code
        )

    async def _reauthorize(self, job: _Job, token: StoredToken, failure: Failure) -> RefreshOutcome:
        """The grant is dead: mark the connection, drop it from the schedule, tell the world."""
        dead = token.model_copy(update={"status": "reauthorization_required"})
        event = TokenRefreshFailed(
            user_id=job.user_id,
            provider_id=job.provider_id,
            project=job.project,
            connection_id=job.connection_id,
            reason=failure.code,
        )
        await self._tokens.put(job.user_id, job.provider_id, dead, events=[event], project=job.project)
        self._log(job, "reauthorization_required", error=failure.code)
        return RefreshOutcome(status="reauthorization_required", expires_at=token.expires_at)

    async def _retry_later(self, job: _Job, failure: Failure) -> None:
        """Back off in the schedule; at ``max_attempts`` tell the world, and keep trying slowly.

        Transient failures never end a grant: a provider outage must not force every user
        to consent again. Past ``max_attempts`` the backoff has reached its cap anyway.
        """
        settings = self._settings
        attempts = await self._tokens.record_failure(job.connection_id)
        delay = domain.retry_delay(
            attempts,
            failure.retry_after,
            base=settings.retry_base_seconds,
            cap=settings.retry_cap_seconds,
            rand=self._rand,
        )
        await self._tokens.reschedule(job.connection_id, self._clock.now() + timedelta(seconds=delay))
        if attempts == settings.max_attempts:
            await self._tokens.add_event(
                TokenRefreshFailed(
                    user_id=job.user_id,
                    provider_id=job.provider_id,
                    project=job.project,
                    connection_id=job.connection_id,
                    status="retrying",
                    reason=failure.code,
                )
            )
        self._log(
            job,
            "retrying",
            failure_class=failure.kind.value,  # transient, or rejected (an operator must act)
            error=failure.code,
            attempts=attempts,
            retry_in_s=round(delay, 2),
        )

    def _log(self, job: _Job, outcome: str, *, failure_class: str | None = None, **fields: Any) -> None:
        """One line per refresh decision; ids and codes only, never a token."""
        late = domain.lateness(job.due, self._clock.now())
        seconds = None if late is None else late.total_seconds()
        metrics.record(job.provider_id, outcome, seconds, failure_class=failure_class)
        if self._counts is not None:
            self._counts.note(job.project, outcome, seconds)
        log.info(
            "refresh",
            outcome=outcome,
            trigger=job.trigger,
            connection_id=job.connection_id,
            provider_id=job.provider_id,
            forced=job.force,
            calls=job.calls,
            lateness_ms=None if late is None else round(late.total_seconds() * 1000, 1),
            **fields,
        )

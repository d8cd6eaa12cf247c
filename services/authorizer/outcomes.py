"""The outcomes of an authorization, a mixin of ``Authorizations`` (``authorizations.py``).

``complete`` and ``fail`` are the record's final compare-and-set, each with the flow's one
final event (``AuthorizationCompleted`` with the token, or ``AuthorizationFailed``). A callback
that fails the flow, or that loses a compare-and-set to another actor, answers from here: it
follows the winner (``_follow``), waiting a while for it, and shows the authorization as it is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

from services.authorizer import callback_pages, domain, metrics
from services.authorizer.domain import AuthorizationRecord, Stage
from services.authorizer.ports import AuthorizationStore, Notifier, Transition
from services.authorizer.session_settings import SessionVerification, VerificationChoice
from services.authorizer.settings import AuthorizerSettings
from shared.contracts.authorization import CallbackOutcome
from shared.contracts.events import AuthorizationCompleted, AuthorizationFailed
from shared.providers.models import Provider
from shared.runtime.logging import get_logger
from shared.tokens.model import StoredToken

# authorization.completed and authorization.failed keep the logger name they were always logged
# under (these methods were Authorizations' own), so queries on it still find them.
log = get_logger("services.authorizer.authorizations")

#: How often a second copy of a callback looks whether the first one is done.
FOLLOW_POLL_S = 0.1


class AuthorizationOutcomes:
    """How an authorization ends, and what a callback answers once it has ended or another
    actor is ending it. Mixed into ``Authorizations``, whose fields these are."""

    settings: AuthorizerSettings
    store: AuthorizationStore
    notifier: Notifier
    clock: Callable[[], datetime]
    sessions: SessionVerification | None

    async def complete(
        self, expected: Stage, record: AuthorizationRecord, provider: Provider, token: StoredToken
    ) -> Transition:
        """Store the token with the completion event and the completed record, in one step
        that happens only if the record is still in stage ``expected``."""
        event = AuthorizationCompleted(
            authorization_id=record.id,
            user_id=record.user_id,
            provider_id=provider.id,
            project=record.project,
            scopes=token.scopes,
        )
        completed = record.completed(token.scopes, self.clock())
        done = await self.store.complete(expected, completed, token, events=[event])
        if done.applied:
            self.notifier.wake([event])
            metrics.COMPLETED.labels(provider.id).inc()
            metrics.COMPLETION.labels(provider.id).observe(
                (completed.updated_at - record.created_at).total_seconds()
            )
            log.info("authorization.completed", authorization_id=record.id, provider_id=provider.id)
        return done

    async def fail(self, record: AuthorizationRecord, reason: str) -> Transition:
        """Fail the record with ``reason`` and its one ``AuthorizationFailed`` event, if it is
        still in the stage it was read in."""
        event = AuthorizationFailed(
            authorization_id=record.id,
            user_id=record.user_id,
            provider_id=record.provider_id,
            project=record.project,
            reason=reason,
        )
        failed = await self.store.transition(
            record.stage, record.failed(reason, self.clock()), events=[event]
        )
        if failed.applied:
            self.notifier.wake([event])
            metrics.FAILED.labels(record.provider_id, metrics.reason_label(reason)).inc()
            log.info("authorization.failed", authorization_id=record.id, reason=reason)
        return failed

    async def _fail(self, record: AuthorizationRecord, reason: str, *, wait: float) -> CallbackOutcome:
        failed = await self.fail(record, reason)
        if failed.applied:
            return callback_pages.failure_outcome(record.id, reason)
        return await self._followed(failed, wait)

    async def _followed(self, lost: Transition, wait_seconds: float) -> CallbackOutcome:
        """The answer of a callback that lost a compare-and-set: the winner's outcome."""
        if lost.record is None:
            return callback_pages.failure_outcome(None, "unknown_state")
        return await self._follow(lost.record, wait_seconds)

    async def _follow(self, record: AuthorizationRecord, wait_seconds: float) -> CallbackOutcome:
        """Wait (at most ``wait_seconds``) while another actor finishes its step, then answer
        with the authorization as it is: a verification link, completed, failed, or still pending."""
        until = time.monotonic() + wait_seconds
        while domain.in_progress(record) and time.monotonic() < until:
            await asyncio.sleep(FOLLOW_POLL_S)
            latest = await self.store.get(record.id)
            if latest is None:
                return callback_pages.failure_outcome(record.id, "unknown_state")
            record = latest
        return callback_pages.current_outcome(record, self._target(await self._verification(record.project)))

    async def _verification(self, project: str) -> VerificationChoice:
        """The verification that applies to the project's callbacks now."""
        if self.sessions is None:
            return VerificationChoice(self.settings.verification, self.settings.verifier_url)
        return await self.sessions.of(project)

    def _target(self, choice: VerificationChoice) -> Callable[[str], str]:
        def target(flow_id: str) -> str:
            return callback_pages.verifier_redirect(
                choice.mode,
                public_url=self.settings.public_url,
                verifier_url=choice.verifier_url,
                flow_id=flow_id,
            )

        return target

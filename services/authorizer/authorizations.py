"""Use cases of an authorization: start, status, callback, confirm_user.

An authorization: ``start`` answers ``completed`` at once when the user's token covers the
scopes; otherwise it stores a pending record and a single-use state bound to it
and to its provider. The callback consumes the state once, exchanges the code at
that provider only, fetches user info, then either stores the token (verification
``unsafe_skip``) or holds it, encrypted, until ``confirm_user`` names the same user.
Every failure marks the record failed and emits ``AuthorizationFailed``; tokens are
written together with ``AuthorizationCompleted`` (outbox), never otherwise, and the
record is marked completed after the reply.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.authorizer import domain, metrics
from services.authorizer.domain import AuthorizationRecord, AuthorizationSecrets
from services.authorizer.ports import (
    AuthorizationStore,
    FreshTokens,
    Later,
    Notifier,
    ProviderCalls,
    Providers,
    Tokens,
)
from services.authorizer.settings import AuthorizerSettings
from shared.contracts.authorization import (
    Authorization,
    CallbackOutcome,
    ConfirmUser,
    ConfirmUserResult,
    FlowInfo,
    FlowRef,
    GetAuthorization,
    OAuthCallback,
    StartAuthorization,
)
from shared.contracts.common import new_id
from shared.contracts.events import AuthorizationCompleted, AuthorizationFailed
from shared.errors import NotFound, ProviderError, UserMismatch, ValetkeyError
from shared.providers import oauth
from shared.providers.models import Provider, TokenGrant
from shared.runtime.logging import get_logger
from shared.tokens.freshness import completed_authorization
from shared.tokens.model import StoredToken, connection_of_authorization, covers

log = get_logger(__name__)


@dataclass
class Authorizations:
    """The authorization use cases, wired to their ports in ``app.py``."""

    settings: AuthorizerSettings
    providers: Providers
    tokens: Tokens
    fresh: FreshTokens
    store: AuthorizationStore
    client: ProviderCalls
    notifier: Notifier
    later: Later
    clock: Callable[[], datetime]

    # --- start and status ---------------------------------------------------------------

    async def start(self, request: StartAuthorization) -> Authorization:
        """``completed`` with the token when the user holds one covering the scopes, else a new one."""
        need = request.requirement
        provider = await self.providers.find(id=need.id, builtin_id=need.provider_id)
        next_uri = domain.check_next_uri(request.next_uri)
        wanted = domain.merge_scopes(need.scopes)
        token = await self.fresh(user_id=request.user_id, provider_id=provider.id)
        if covers(token, wanted, now=self.clock()):
            # Nothing to consent to: the answer stands for the connection, no record is written.
            return completed_authorization(request.user_id, provider.id, token)
        stored = token or await self.tokens.get(request.user_id, provider.id)
        granted = stored.scopes if stored is not None else []
        return await self._begin(request.user_id, provider, wanted, granted, next_uri)

    async def _begin(
        self, user_id: str, provider: Provider, wanted: list[str], granted: list[str], next_uri: str | None
    ) -> Authorization:
        now = self.clock()
        state = oauth.new_state()
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
            id=new_id("ac"),
            user_id=user_id,
            provider_id=provider.id,
            scopes=scopes,
            url=url,
            next_uri=next_uri,
            created_at=now,
            updated_at=now,
            state_expires_at=domain.state_expiry(now, self.settings.state_ttl_seconds),
            secrets=AuthorizationSecrets(code_verifier=verifier),
        )
        await self.store.create(record, state=state, ttl_seconds=self.settings.state_ttl_seconds)
        metrics.STARTED.labels(provider.id).inc()
        log.info("authorization.started", authorization_id=record.id, provider_id=provider.id)
        return domain.to_authorization(record)

    async def status(self, request: GetAuthorization) -> Authorization:
        """The authorization now; a completed one carries a fresh token.

        Raises:
            NotFound: Unknown (or long expired) authorization id.
        """
        connection = connection_of_authorization(request.authorization_id)
        if connection is not None:
            return await self._connection_status(request.authorization_id, connection)
        record = await self.store.get(request.authorization_id)
        if record is None:
            raise NotFound(f"authorization {request.authorization_id!r} not found")
        if record.status == "completed" or record.stage == "storing":
            token = await self.fresh(user_id=record.user_id, provider_id=record.provider_id)
            if record.status == "completed":
                return domain.to_authorization(record, token)
            if domain.completed_by_store(record, token) and token is not None:
                return domain.to_authorization(record.completed(token.scopes, self.clock()), token)
        return domain.to_authorization(record)

    async def _connection_status(self, authorization_id: str, connection: str) -> Authorization:
        meta = await self.tokens.connection(connection)
        if meta is None:
            raise NotFound(f"authorization {authorization_id!r} not found")
        token = await self.fresh(user_id=meta.user_id, provider_id=meta.provider_id)
        if token is None:  # revoked upstream or needs consent again: this authorization is over
            return Authorization(
                id=authorization_id,
                status="failed",
                provider_id=meta.provider_id,
                user_id=meta.user_id,
                scopes=meta.scopes,
                failure_reason="reauthorization_required",
            )
        return completed_authorization(meta.user_id, meta.provider_id, token)

    # --- callback -----------------------------------------------------------------------

    async def callback(self, callback: OAuthCallback) -> CallbackOutcome:
        """Handle the provider's redirect; never exchanges a code twice or for an unknown state."""
        if not callback.state:
            return _failure_page(None, "unknown_state")
        claim = await self.store.consume_state(callback.state)
        if claim is None:
            return await self._unusable_state(callback.state)
        record = claim.record or await self.store.get(claim.authorization_id)
        if record is None or record.status != "pending":
            return _failure_page(claim.authorization_id, "unknown_state")
        reason = domain.callback_error(callback)
        if reason is not None:
            return await self._fail(record, reason)
        provider = await self.providers.get(claim.provider_id)  # the provider the state was issued for
        if provider is None:
            return await self._fail(record, "provider_removed")
        if callback.iss and not domain.issuer_matches(callback.iss, provider):
            return await self._fail(record, "issuer_mismatch")
        assert callback.code is not None  # callback_error checked it
        return await self._exchange(record, provider, callback.code)

    async def _unusable_state(self, state: str) -> CallbackOutcome:
        auth_id = await self.store.state_owner(state)
        record = await self.store.get(auth_id) if auth_id else None
        if record is None:
            return _failure_page(None, "unknown_state")
        # A state never consumed has expired; one already consumed is a replay.
        reason = "state_expired" if record.stage == "consent" else "state_replayed"
        if record.status == "pending" and record.stage != "storing":
            return await self._fail(record, reason)
        # A finished authorization is left as it is, and so is one whose token is being or
        # has been stored (it reads as completed until the record is marked so).
        return _failure_page(record.id, reason)

    async def _exchange(self, record: AuthorizationRecord, provider: Provider, code: str) -> CallbackOutcome:
        record = record.advance(self.clock(), stage="exchanging")
        # The stage write and the read of the user's previous token go alongside the provider
        # call: the state is consumed, so nothing else acts on this record meanwhile.
        grant, _, previous = await asyncio.gather(
            self._grant(record, provider, code),
            self.store.save(record),
            self.tokens.get(record.user_id, provider.id),
        )
        if isinstance(grant, str):
            return await self._fail(record, grant)
        if self.settings.verification != "unsafe_skip":
            user_info = await self._user_info(provider, grant.access_token)
            return await self._hold(record, self._token(record, grant, previous, user_info))
        # No verification: the "storing" mark (see _complete) goes alongside the user-info call.
        storing = record.advance(self.clock(), stage="storing", secrets=AuthorizationSecrets())
        user_info, _ = await asyncio.gather(
            self._user_info(provider, grant.access_token), self.store.save(storing)
        )
        done = await self._store(storing, provider, self._token(record, grant, previous, user_info))
        return _success_page(record, done)

    def _token(
        self,
        record: AuthorizationRecord,
        grant: TokenGrant,
        previous: StoredToken | None,
        user_info: dict[str, object],
    ) -> StoredToken:
        return domain.stored_token(
            grant, previous=previous, requested=record.scopes, user_info=user_info, now=self.clock()
        )

    async def _grant(self, record: AuthorizationRecord, provider: Provider, code: str) -> TokenGrant | str:
        """The provider's token grant for ``code``, or the failure reason."""
        try:
            return await self.client.exchange(
                provider,
                code=code,
                redirect_uri=self.settings.redirect_uri,
                code_verifier=record.secrets.code_verifier,
            )
        except ValetkeyError as exc:
            return _reason(exc)

    async def _user_info(self, provider: Provider, access_token: str) -> dict[str, object]:
        if not domain.wants_user_info(provider):
            return {}
        try:
            return await self.client.user_info(provider, access_token)
        except ProviderError as exc:
            # The token is good without it; a flaky user-info endpoint must not lose the grant.
            log.warning("authorization.user_info_failed", provider_id=provider.id, error=exc.code)
            return {}

    async def _hold(self, record: AuthorizationRecord, token: StoredToken) -> CallbackOutcome:
        flow_id = secrets.token_urlsafe(24)
        held = record.advance(
            self.clock(), stage="verify", flow_id=flow_id, secrets=AuthorizationSecrets(token=token)
        )
        await self.store.hold_for_verification(held, ttl_seconds=self.settings.state_ttl_seconds)
        target = domain.verifier_redirect(
            self.settings.verification,
            public_url=self.settings.public_url,
            verifier_url=self.settings.verifier_url,
            flow_id=flow_id,
        )
        return CallbackOutcome(
            status="verify",
            authorization_id=record.id,
            redirect_to=target,
            flow_id=flow_id,
            message="Confirm your user id to finish.",
        )

    # --- verification -------------------------------------------------------------------

    async def confirm_user(self, request: ConfirmUser) -> ConfirmUserResult:
        """Store the held token when the app's signed-in user is the user the authorization was started for.

        Raises:
            NotFound: Unknown, expired or already used flow id.
            UserMismatch: A different user; the authorization fails and nothing is stored.
        """
        auth_id = await self.store.take_flow(request.flow_id)
        record = await self.store.get(auth_id) if auth_id else None
        token = record.secrets.token if record else None
        if record is None or record.stage != "verify" or token is None:
            raise NotFound("verification flow not found or expired")
        if request.user_id != record.user_id:
            await self._fail(record, "user_mismatch")
            raise UserMismatch("the user id does not match the user this authorization was started for")
        provider = await self.providers.get(record.provider_id)
        if provider is None:
            await self._fail(record, "provider_removed")
            raise NotFound(f"auth provider {record.provider_id!r} no longer exists")
        done = await self._complete(record, provider, token)
        return ConfirmUserResult(auth_id=record.id, next_uri=record.next_uri, authorization=done)

    async def flow_info(self, request: FlowRef) -> FlowInfo:
        """What the built-in verifier page shows; does not consume the flow.

        Raises:
            NotFound: Unknown or expired flow id.
        """
        auth_id = await self.store.peek_flow(request.flow_id)
        record = await self.store.get(auth_id) if auth_id else None
        if record is None or record.stage != "verify":
            raise NotFound("verification flow not found or expired")
        return FlowInfo(
            flow_id=request.flow_id,
            authorization_id=record.id,
            user_id=record.user_id,
            provider_id=record.provider_id,
            scopes=record.scopes,
        )

    # --- outcomes -----------------------------------------------------------------------

    async def _complete(
        self, record: AuthorizationRecord, provider: Provider, token: StoredToken
    ) -> Authorization:
        """Store a held token: mark the record "storing" first, so that a status read trusts
        the token store from then on (``domain.completed_by_store``), then store."""
        storing = record.advance(token.issued_at, stage="storing", secrets=AuthorizationSecrets())
        await self.store.save(storing)
        return await self._store(storing, provider, token)

    async def _store(
        self, storing: AuthorizationRecord, provider: Provider, token: StoredToken
    ) -> Authorization:
        """Write the token with its completion event; the authorization is complete from then on.

        Returns the completed authorization: the caller's reply carries it to the gateway that
        took the callback, which answers its own waiting long-polls with it. Marking the record
        completed and announcing the event follow that reply (``later``): a "storing" record
        with its token already reads as completed, and the event is in the outbox, so neither
        step can be lost; waiters on other gateways are woken by the event.
        """
        event = AuthorizationCompleted(
            authorization_id=storing.id, user_id=storing.user_id, provider_id=provider.id, scopes=token.scopes
        )
        await self.tokens.put(storing.user_id, provider.id, token, events=[event])
        completed = storing.completed(token.scopes, self.clock())
        self.later.run(self._announce(completed, event), name="authorization.completed")
        metrics.COMPLETED.labels(provider.id).inc()
        metrics.COMPLETION.labels(provider.id).observe(
            (completed.updated_at - storing.created_at).total_seconds()
        )
        log.info("authorization.completed", authorization_id=storing.id, provider_id=provider.id)
        return domain.to_authorization(completed, token)

    async def _announce(self, completed: AuthorizationRecord, event: AuthorizationCompleted) -> None:
        try:
            await self.store.save(completed)
        finally:
            self.notifier.wake([event])

    async def _fail(self, record: AuthorizationRecord, reason: str) -> CallbackOutcome:
        event = AuthorizationFailed(
            authorization_id=record.id, user_id=record.user_id, provider_id=record.provider_id, reason=reason
        )
        await self.store.save(record.failed(reason, self.clock()), events=[event])
        self.notifier.wake([event])
        metrics.FAILED.labels(record.provider_id, metrics.reason_label(reason)).inc()
        log.info("authorization.failed", authorization_id=record.id, reason=reason)
        return _failure_page(record.id, reason)


def _reason(exc: ValetkeyError) -> str:
    """The provider's own error code when it gave one (``invalid_client``), else ours."""
    provider_error = exc.details.get("provider_error")
    return str(provider_error) if provider_error else exc.code


def _failure_page(auth_id: str | None, reason: str) -> CallbackOutcome:
    return CallbackOutcome(status="failed", authorization_id=auth_id, message=domain.failure_message(reason))


def _success_page(record: AuthorizationRecord, done: Authorization) -> CallbackOutcome:
    return CallbackOutcome(
        status="completed",
        authorization_id=record.id,
        redirect_to=record.next_uri,
        message="Authorization complete. You can close this window.",
        authorization=done,
    )

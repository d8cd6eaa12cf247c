"""Use cases of the verification step: ``confirm_user`` and what a verifier page may show.

After the callback the token is held, encrypted, in a record in stage ``verify``.
``confirm_user`` naming the user the authorization was started for stores it (a
compare-and-set from ``verify``, with the completion event); a different user fails the
authorization. A second copy of a confirmation (a double click) is answered with what
the first one did, never with "not found" for a flow that completed.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.authorizer import domain
from services.authorizer.authorizations import Authorizations, trace_attributes
from services.authorizer.domain import AuthorizationRecord
from shared.contracts.authorization import ConfirmUser, ConfirmUserResult, FlowInfo, FlowRef
from shared.errors import NotFound, UserMismatch
from shared.runtime import tracing


@dataclass
class Verifications:
    """The verification use cases, on the authorizations' ports."""

    authorizations: Authorizations

    async def flow_record(self, flow_id: str) -> AuthorizationRecord:
        """The authorization a verification flow belongs to.

        Raises:
            NotFound: Unknown or expired flow id.
        """
        store = self.authorizations.store
        auth_id = await store.peek_flow(flow_id)
        record = await store.get(auth_id) if auth_id else None
        if record is None or record.flow_id != flow_id:
            raise NotFound("verification flow not found or expired")
        return record

    async def confirm_user(self, request: ConfirmUser) -> ConfirmUserResult:
        """Store the held token when the app's signed-in user is the user the authorization was started for.

        Raises:
            NotFound: Unknown or expired flow id, or an authorization that already failed.
            UserMismatch: A different user; a waiting authorization fails and nothing is stored.
        """
        sessions = self.authorizations.sessions
        if sessions is not None:  # a validate_custom_verifier test flow stores nothing
            tested = await sessions.confirm_test(request.flow_id, request.user_id, request.project)
            if tested is not None:
                return tested
        record = await self.flow_record(request.flow_id)
        if request.project is not None and record.project != request.project:
            raise NotFound("verification flow not found or expired")
        if record.stage != "verify":
            return _already_decided(record, request)
        with tracing.resumed("authorization.confirm_user", record.traceparent, **trace_attributes(record)):
            return await self._confirm(record, request)

    async def _confirm(self, record: AuthorizationRecord, request: ConfirmUser) -> ConfirmUserResult:
        """Store the held token for the right user, fail the flow for another."""
        if request.user_id != record.user_id:
            await self.authorizations.fail(record, "user_mismatch")
            raise UserMismatch("the user id does not match the user this authorization was started for")
        token = record.secrets.token
        provider = await self.authorizations.providers.get(record.provider_id, record.project)
        if provider is None or token is None:
            await self.authorizations.fail(record, "provider_removed")
            raise NotFound(f"auth provider {record.provider_id!r} no longer exists")
        done = await self.authorizations.complete("verify", record, provider, token)
        if not done.applied or done.record is None:
            current = done.record or record
            return _already_decided(current, request)
        view = domain.to_authorization(done.record, token)
        return ConfirmUserResult(auth_id=record.id, next_uri=record.next_uri, authorization=view)

    async def flow_info(self, request: FlowRef) -> FlowInfo:
        """What the built-in verifier page shows; does not use the flow up.

        Raises:
            NotFound: Unknown or expired flow id, or a flow no longer waiting.
        """
        record = await self.flow_record(request.flow_id)
        if record.stage != "verify":
            raise NotFound("verification flow not found or expired")
        return FlowInfo(
            flow_id=request.flow_id,
            authorization_id=record.id,
            user_id=record.user_id,
            provider_id=record.provider_id,
            scopes=record.scopes,
        )


def _already_decided(record: AuthorizationRecord, request: ConfirmUser) -> ConfirmUserResult:
    """The answer to a confirmation that comes after the authorization was decided.

    Raises:
        UserMismatch: Another user than the one the authorization was for.
        NotFound: The authorization failed (or is not waiting for a confirmation).
    """
    if request.user_id != record.user_id:
        raise UserMismatch("the user id does not match the user this authorization was started for")
    if record.status != "completed":
        raise NotFound(f"this authorization is over ({record.failure_reason or record.status})")
    # The token went to the first confirmation's reply; long-polls learn it from the event.
    return ConfirmUserResult(auth_id=record.id, next_uri=record.next_uri)

"""Use cases of the ``oidc`` verification: the browser user signs in at the platform's OpenID provider.

After the callback the token is held in a record in stage ``verify``, with a nonce and a
PKCE verifier for this sign-in. ``begin`` sends the browser to the provider (code flow,
the flow id as ``state``); ``callback`` exchanges the code, checks the ID token, and
confirms the flow's user when the configured claim names that user. Someone else
signing in fails the flow (``user_mismatch``) and nothing is stored; a sign-in that
cannot be checked (the provider refused the code, a bad token, another nonce) leaves
the flow waiting, so the user may try again until the step expires.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.authorizer import callback_pages, domain
from services.authorizer.authorizations import trace_attributes
from services.authorizer.domain import AuthorizationRecord
from services.authorizer.ports import SignInProvider
from services.authorizer.verification import Verifications
from shared.contracts.authorization import CallbackOutcome, ConfirmUser, FlowRef, VerifyCallback
from shared.errors import NotFound, ValetkeyError
from shared.providers import oauth
from shared.runtime import tracing
from shared.runtime.config import OidcVerifierConfig
from shared.runtime.logging import get_logger

log = get_logger(__name__)


@dataclass
class SignIns:
    """The verification sign-in, on the verifications' use cases and the OpenID provider."""

    verifications: Verifications
    provider: SignInProvider
    config: OidcVerifierConfig
    redirect_uri: str

    async def begin(self, request: FlowRef) -> CallbackOutcome:
        """Where the browser goes for a flow: the provider's sign-in while the flow waits,
        else the flow's outcome (a reload after it was decided).

        Raises:
            NotFound: Unknown or expired flow id.
            ProviderError: The provider's discovery document could not be read.
        """
        record = await self.verifications.flow_record(request.flow_id)
        nonce, verifier = record.secrets.sign_in_nonce, record.secrets.sign_in_verifier
        if record.stage != "verify":
            return _decided(record)
        if nonce is None or verifier is None:  # held before the engine switched to oidc
            raise NotFound("this verification flow has no sign-in; start the authorization again")
        url = domain.sign_in_url(
            await self.provider.authorization_endpoint(),
            client_id=self.config.client_id,
            redirect_uri=self.redirect_uri,
            scopes=self.config.scopes,
            flow_id=request.flow_id,
            nonce=nonce,
            challenge=oauth.code_challenge_s256(verifier),
        )
        return CallbackOutcome(
            status="verify", authorization_id=record.id, redirect_to=url, message="Sign in to finish."
        )

    async def callback(self, callback: VerifyCallback) -> CallbackOutcome:
        """Confirm the flow's user from the sign-in the provider sent back."""
        try:
            record = await self.verifications.flow_record(callback.state or "")
        except NotFound:
            return callback_pages.failure_outcome(None, "unknown_state")
        if record.stage != "verify":
            return _decided(record)
        with tracing.resumed("authorization.verify_callback", record.traceparent, **trace_attributes(record)):
            return await self._signed_in(record, callback)

    async def _signed_in(self, record: AuthorizationRecord, callback: VerifyCallback) -> CallbackOutcome:
        """Check the sign-in the provider sent back and confirm, refuse or fail the flow."""
        verifier = record.secrets.sign_in_verifier
        if callback.error or not callback.code or verifier is None:
            return _refused(record, callback.error or "missing_code")
        if callback.iss and callback.iss.rstrip("/") != self.config.issuer.rstrip("/"):
            return _refused(record, "issuer_mismatch")  # RFC 9207: another provider's answer
        try:
            claims = await self.provider.claims(code=callback.code, code_verifier=verifier)
        except ValetkeyError as exc:
            return await self._unchecked(record, exc.code)
        reason = domain.sign_in_mismatch(
            claims,
            nonce=record.secrets.sign_in_nonce,
            user_claim=self.config.user_claim,
            user_id=record.user_id,
        )
        if reason == "user_mismatch":
            return await self._mismatch(record)
        if reason is not None:
            return _refused(record, reason)
        return await self._confirm(record)

    async def _confirm(self, record: AuthorizationRecord) -> CallbackOutcome:
        assert record.flow_id is not None
        try:
            done = await self.verifications.confirm_user(
                ConfirmUser(flow_id=record.flow_id, user_id=record.user_id, project=record.project)
            )
        except ValetkeyError:
            return await self._current(record)
        if done.authorization is None:  # another confirmation came first
            return await self._current(record)
        return CallbackOutcome(
            status="completed",
            authorization_id=done.auth_id,
            redirect_to=done.next_uri,
            message="Authorization complete. You can close this window.",
            authorization=done.authorization,
        )

    async def _mismatch(self, record: AuthorizationRecord) -> CallbackOutcome:
        failed = await self.verifications.authorizations.fail(record, "user_mismatch")
        if failed.applied or failed.record is None:
            return callback_pages.failure_outcome(record.id, "user_mismatch")
        return _decided(failed.record)

    async def _unchecked(self, record: AuthorizationRecord, error: str) -> CallbackOutcome:
        """A sign-in the provider would not confirm: refused, unless the flow was decided
        meanwhile (a second copy of this callback whose code was already used)."""
        return await self._current(record) if error == "invalid_grant" else _refused(record, error)

    async def _current(self, record: AuthorizationRecord) -> CallbackOutcome:
        latest = await self.verifications.authorizations.store.get(record.id) or record
        return _decided(latest) if latest.stage != "verify" else _refused(latest, "invalid_grant")


def _decided(record: AuthorizationRecord) -> CallbackOutcome:
    return callback_pages.current_outcome(record, lambda _flow: "")


def _refused(record: AuthorizationRecord, why: str) -> CallbackOutcome:
    log.info("verification.sign_in_refused", authorization_id=record.id, reason=why[:64])
    return callback_pages.failure_outcome(record.id, "sign_in_refused")

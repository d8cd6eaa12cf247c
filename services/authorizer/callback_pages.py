"""Pure answers of the authorizer to the browser: the page or redirect a callback (or a
verification sign-in) ends on: completed, failed with plain words, the verification step, pending.

Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from services.authorizer.domain import AuthorizationRecord, VerificationMode
from shared.contracts.authorization import VERIFY_PATH, Authorization, CallbackOutcome
from shared.errors import BadRequest


def failure_message(reason: str) -> str:
    """Plain words for the browser page (never the code, state or provider text verbatim)."""
    messages = {
        "access_denied": "Access was denied at the provider.",
        "state_expired": "This sign-in link has expired. Start the authorization again.",
        "unknown_state": "This sign-in response does not belong to any authorization.",
        "invalid_grant": "The provider refused the authorization code.",
        "provider_unavailable": "The provider could not be reached. Try again later.",
        "user_mismatch": "The signed-in user is not the user this authorization was started for.",
        "exchange_interrupted": "The sign-in was interrupted before it finished. "
        "Nothing was stored: start the authorization again from the app.",
        "verification_expired": "The confirmation step expired. Start the authorization again from the app.",
        "sign_in_refused": "The sign-in could not be checked. Open the link from the app again to retry.",
    }
    return messages.get(reason, f"The authorization failed ({reason}).")


def verifier_redirect(
    mode: VerificationMode, *, public_url: str, verifier_url: str | None, flow_id: str
) -> str:
    """Where the browser goes to confirm the user after the callback (docs/arcade-compatibility.md §2.4).

    Raises:
        BadRequest: Custom mode without a verifier URL.
    """
    if mode == "custom":
        if not verifier_url:
            raise BadRequest("auth.verification.verifier_url is required in custom mode")
        base = verifier_url
    else:
        base = f"{public_url}{VERIFY_PATH}"
    separator = "&" if urlsplit(base).query else "?"
    return f"{base}{separator}{urlencode({'flow_id': flow_id})}"


def failure_outcome(auth_id: str | None, reason: str) -> CallbackOutcome:
    """The browser's failure page for ``reason``."""
    return CallbackOutcome(status="failed", authorization_id=auth_id, message=failure_message(reason))


def success_outcome(record: AuthorizationRecord, done: Authorization | None = None) -> CallbackOutcome:
    """The browser's completion: to ``next_uri`` when the app gave one, else a completion page.
    ``done`` (token included) goes to the gateway's waiting long-polls, never to the browser."""
    return CallbackOutcome(
        status="completed",
        authorization_id=record.id,
        redirect_to=record.next_uri,
        message="Authorization complete. You can close this window.",
        authorization=done,
    )


def current_outcome(record: AuthorizationRecord, verifier: Callable[[str], str]) -> CallbackOutcome:
    """What the browser is shown for an authorization as it is now (a second copy of a
    callback, a reload after a crash): the verification step again while it waits there,
    completed, failed with its reason, or still pending. ``verifier`` maps a flow id to
    the verifier's URL."""
    if record.status == "completed":
        return success_outcome(record)
    if record.status == "failed":
        return failure_outcome(record.id, record.failure_reason or "failed")
    if record.stage == "verify" and record.flow_id is not None:
        return CallbackOutcome(
            status="verify",
            authorization_id=record.id,
            redirect_to=verifier(record.flow_id),
            flow_id=record.flow_id,
            message="Confirm your user id to finish.",
        )
    return CallbackOutcome(
        status="pending",
        authorization_id=record.id,
        message="The sign-in is still being finished. Reload this page in a few seconds.",
    )

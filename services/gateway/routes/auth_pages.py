"""Browser-facing pages: the OAuth callback, the built-in (development) user verifier and
the OpenID sign-in of ``oidc`` verification.

The callback hands ``code``/``state`` to the authorizer and answers with a plain page or
a 303. Pages never show the code or the state, and send ``Referrer-Policy: no-referrer``
so neither leaks through a link (RFC 9700 §4.2). No API key here: a browser calls these.

The built-in verifier (``auth.verification.mode: builtin``) is for development only: it
shows the user id a flow was started for and lets whoever holds the browser confirm it.
It proves nothing about who that person is; production apps use ``oidc`` mode (the
browser user signs in at the platform's OpenID provider; the authorizer, which alone holds
the client secret, checks the ID token) or ``custom`` mode, where their own signed-in
session decides (docs/arcade-compatibility.md §2.4).
"""

from __future__ import annotations

import asyncio
import time
from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.gateway.routes.auth import finish
from services.gateway.routes.deps import rpc_of
from shared.bus import subjects
from shared.contracts.authorization import (
    CALLBACK_PATH,
    VERIFY_CALLBACK_PATH,
    VERIFY_PATH,
    CallbackOutcome,
    ConfirmUser,
    ConfirmUserResult,
    FlowInfo,
    FlowRef,
    OAuthCallback,
    VerifyCallback,
)
from shared.errors import NotFound, ServiceUnavailable, UserMismatch, ValetkeyError
from shared.runtime.settings import Settings

router = APIRouter(tags=["oauth"], include_in_schema=False)

# How long the browser's callback request may take in all. The authorizer gives up an
# exchange well before (its sweeper fails one left by a crash), so the browser learns the
# outcome, whatever it is, inside this.
CALLBACK_BUDGET_S = 30.0
# One ask of the authorizer. A callback is safe to ask again (a second copy waits for the
# first one's outcome, ``FOLLOW_WAIT_S`` at most), so an authorizer killed mid-callback costs
# the browser this long, not the whole budget.
ATTEMPT_TIMEOUT_S = 5.0
FOLLOW_WAIT_S = 3.0
# Pause before asking again when no authorizer answers at all (all of them restarting).
RETRY_PAUSE_S = 0.5

_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def page(title: str, body_html: str, *, status_code: int = 200) -> HTMLResponse:
    """A minimal, self-contained HTML page with the no-referrer, no-store, no-frame headers."""
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}"
        "button{font-size:1rem;padding:.5rem 1rem}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body_html}</body></html>"
    )
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


def redirect(url: str) -> RedirectResponse:
    """A 303 (the browser follows with GET) carrying the same privacy headers."""
    return RedirectResponse(url, status_code=303, headers=_HEADERS)


def _outcome_response(outcome: CallbackOutcome) -> Response:
    if outcome.redirect_to:
        return redirect(outcome.redirect_to)
    if outcome.status == "completed":
        return page("Authorization complete", f"<p>{escape(outcome.message)}</p>")
    if outcome.status == "pending":
        return page("Still finishing", f"<p>{escape(outcome.message)}</p>", status_code=503)
    return page("Authorization failed", f"<p>{escape(outcome.message)}</p>", status_code=400)


@router.get(CALLBACK_PATH)
async def oauth_callback(request: Request) -> Response:
    """Where providers redirect the browser after consent (the redirect URI to register)."""
    query = request.query_params
    callback = OAuthCallback(
        state=query.get("state"),
        code=query.get("code"),
        error=query.get("error"),
        error_description=query.get("error_description"),
        iss=query.get("iss"),
        wait_seconds=FOLLOW_WAIT_S,
    )
    try:
        outcome = await callback_outcome(request, callback)
    except ValetkeyError as exc:
        return page("Authorization failed", f"<p>{escape(exc.message)}</p>", status_code=exc.status)
    return _outcome_response(outcome)


async def callback_outcome(request: Request, callback: OAuthCallback) -> CallbackOutcome:
    """Ask the authorizer, again while it answers ``pending`` or does not answer (killed,
    restarting), until the budget is spent: asking again never exchanges a code twice."""
    deadline = time.monotonic() + CALLBACK_BUDGET_S
    while True:
        try:
            outcome = await finish(
                request, subjects.AUTH_CALLBACK, callback, CallbackOutcome, timeout=ATTEMPT_TIMEOUT_S
            )
        except ServiceUnavailable:
            if time.monotonic() + RETRY_PAUSE_S >= deadline:
                raise
            await asyncio.sleep(RETRY_PAUSE_S)
            continue
        if outcome.status != "pending" or time.monotonic() >= deadline:
            return outcome


def _verification_mode(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.engine.auth.verification.mode


def _builtin_enabled(request: Request) -> bool:
    return _verification_mode(request) == "builtin"


_EXPIRED = "<p>This verification link is unknown or has expired.</p>"


@router.get(VERIFY_PATH)
async def verify_page(request: Request, flow_id: str = "") -> Response:
    """The verification step: on to the OpenID provider's sign-in (``oidc``), or the development
    verifier's page naming the user the flow was started for, with a confirm button."""
    if _verification_mode(request) == "oidc" and flow_id:
        return await _sign_in(request, flow_id)
    if not _builtin_enabled(request) or not flow_id:
        raise NotFound("the built-in verifier is not enabled")
    try:
        info = await rpc_of(request).call(subjects.AUTH_FLOW_INFO, FlowRef(flow_id=flow_id), FlowInfo)
    except NotFound:
        return page("Link expired", _EXPIRED, status_code=404)
    body = (
        f"<p>This authorization for <b>{escape(info.provider_id)}</b> was started for the user "
        f"<b id='user-id'>{escape(info.user_id)}</b>.</p>"
        "<p>Confirm only if that is you. If it is not, close this window: nothing will be stored.</p>"
        f"<form method='post' action='{VERIFY_PATH}'>"
        f"<input type='hidden' name='flow_id' value='{escape(flow_id, quote=True)}'>"
        f"<input type='hidden' name='user_id' value='{escape(info.user_id, quote=True)}'>"
        f"<button type='submit'>I am {escape(info.user_id)}</button></form>"
        "<p><small>Built-in development verifier: it does not check who you are. "
        "Use <code>auth.verification.mode: oidc</code> (or <code>custom</code>) in production.</small></p>"
    )
    return page("Confirm your account", body)


@router.post(VERIFY_PATH)
async def verify_submit(request: Request) -> Response:
    """Development verifier: confirm the user shown on the page, then continue like a callback."""
    if not _builtin_enabled(request):
        raise NotFound("the built-in verifier is not enabled")
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    flow_id, user_id = form.get("flow_id", [""])[0], form.get("user_id", [""])[0]
    if not flow_id or not user_id:
        return page("Authorization failed", "<p>The form was incomplete.</p>", status_code=400)
    try:
        confirm = ConfirmUser(flow_id=flow_id, user_id=user_id, project=None)  # the flow's own project
        result = await finish(request, subjects.AUTH_CONFIRM_USER, confirm, ConfirmUserResult)
    except (NotFound, UserMismatch) as exc:
        return page("Authorization failed", f"<p>{escape(exc.message)}</p>", status_code=exc.status)
    if result.next_uri:
        return redirect(result.next_uri)
    return page("Authorization complete", "<p>Authorization complete. You can close this window.</p>")


async def _sign_in(request: Request, flow_id: str) -> Response:
    """``oidc``: send the browser to the platform's OpenID provider to sign in for this flow."""
    try:
        outcome = await rpc_of(request).call(
            subjects.AUTH_VERIFY_SIGN_IN, FlowRef(flow_id=flow_id), CallbackOutcome
        )
    except NotFound:
        return page("Link expired", _EXPIRED, status_code=404)
    except ValetkeyError as exc:
        return page("Sign-in unavailable", f"<p>{escape(exc.message)}</p>", status_code=exc.status)
    return _outcome_response(outcome)


@router.get(VERIFY_CALLBACK_PATH)
async def verify_callback(request: Request) -> Response:
    """Where the platform's OpenID provider sends the browser back (``oidc``): the authorizer
    checks the sign-in and finishes the flow (the code goes to it, never the other way)."""
    if _verification_mode(request) != "oidc":
        raise NotFound("OpenID verification is not enabled")
    query = request.query_params
    callback = VerifyCallback(
        state=query.get("state"), code=query.get("code"), error=query.get("error"), iss=query.get("iss")
    )
    try:
        outcome = await finish(
            request, subjects.AUTH_VERIFY_CALLBACK, callback, CallbackOutcome, timeout=CALLBACK_BUDGET_S
        )
    except ValetkeyError as exc:
        return page("Authorization failed", f"<p>{escape(exc.message)}</p>", status_code=exc.status)
    return _outcome_response(outcome)

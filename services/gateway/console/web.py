"""What every console page shares: templates, the session cookie, CSRF and form bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.gateway.console.signing import Session, Signer
from services.gateway.domain import ApiKeys
from services.gateway.settings import GatewaySettings
from shared.errors import Unauthorized, ValetkeyError
from shared.providers.scope_words import scope_words

HERE = Path(__file__).parent
COOKIE = "vk_console"
SIGN_IN = "/console/sign-in"
MAX_FORM_BYTES = 64 * 1024
CSRF_MESSAGE = "The form's CSRF token is missing or wrong. Reload the page and try again."

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(), auto_reload=False
)


def when(value: object) -> str:
    """An ISO 8601 time as ``2026-12-03 06:47 UTC`` (anything else as it is)."""
    try:
        return (
            datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            .astimezone(UTC)
            .strftime("%Y-%m-%d %H:%M UTC")
        )
    except ValueError:
        return str(value or "")


def when_exactly(value: object) -> str:
    """An ISO 8601 time to the second (``2026-12-03 06:47:05 UTC``): for attempts a second apart."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return str(value or "")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


templates.filters["when"] = when
templates.filters["when_exactly"] = when_exactly
templates.globals["scope_words"] = scope_words


class SignInRequired(Exception):
    """No valid session: every console URL answers with a redirect to the sign-in page."""

    def __init__(self, path: str) -> None:
        self.path = path


class CsrfRefused(Exception):
    """A form posted without its session's CSRF token."""


def signer(request: Request) -> Signer:
    found: Signer = request.app.state.console_signer
    return found


def secure(request: Request) -> bool:
    gw: GatewaySettings = request.app.state.gateway
    return gw.public_url.startswith("https://")


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "console_session", None)
    html = templates.get_template(template).render(request=request, session=session, **context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # form-action allows http(s): the end-user page's "Connect" form redirects to the provider.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; form-action 'self' https: http:"
    ),
}


def _here(request: Request) -> str:
    """Where to come back after signing in: a page's path and query (a form's post: its page)."""
    if request.method != "GET":
        return "/console"
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


async def session_of(request: Request) -> Session:
    """The signed-in operator; a missing, forged, expired or no-longer-admin session redirects to sign-in."""
    try:
        session = Session.of(signer(request).verify("console", request.cookies.get(COOKIE)))
    except (Unauthorized, KeyError, ValueError):
        raise SignInRequired(_here(request)) from None
    keys: ApiKeys = request.app.state.api_keys
    principal = keys.by_digest(session.key)
    if principal is None or principal.role != "admin" or principal.project != session.project:
        raise SignInRequired(_here(request))
    request.state.console_session = session
    return session


async def form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the console's forms send nothing else)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """The form's fields, once its CSRF token matched the session's (else 403)."""
    fields = await form(request)
    if not session.csrf_ok(fields.get("csrf")):
        raise CsrfRefused
    return fields


def set_session(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def install_handlers(app: FastAPI) -> None:
    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return see_other(f"{SIGN_IN}?next={quote(exc.path)}")

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return render(
            request,
            "error.html",
            403,
            title="Refused",
            message=CSRF_MESSAGE,
        )

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)


def problem(exc: ValetkeyError) -> str:
    """One line for a failed request, shown on the page instead of the page's data."""
    return f"{exc.code}: {exc.message}"

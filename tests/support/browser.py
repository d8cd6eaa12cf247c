"""A scripted browser for the test OAuth server's built-in login and consent pages.

It plays the user: opens the authorization URL, signs in with any password, then
approves or cancels, following redirects only while they stay on the
authorization server. The redirect to the client's callback is where it stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

# Login, consent and their redirects take about six requests; more means a loop.
MAX_STEPS = 20


class BrowserError(AssertionError):
    """The authorization server showed something the script does not expect."""


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _PageParser(HTMLParser):
    """Collects forms (with their named inputs) and link targets from one page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            method = attributes.get("method", "get").upper()
            self.forms.append(_Form(action=attributes.get("action", ""), method=method))
        elif tag == "input" and self.forms and "name" in attributes:
            self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])


async def consent(
    authorize_url: str | httpx.URL,
    *,
    login: str,
    approve: bool = True,
    stop_at_prefix: str,
    client: httpx.AsyncClient | None = None,
) -> httpx.URL:
    """Sign in as ``login``, approve or cancel, and return the callback URL without requesting it.

    Cancelling makes the server redirect with ``error=access_denied``. Pass ``client``
    to keep the cookies (the server's session) across several authorizations.
    """
    async with _browser(client) as browser:
        return await _walk(browser, httpx.URL(str(authorize_url)), login, approve, stop_at_prefix)


async def consent_and_follow(
    authorize_url: str | httpx.URL,
    *,
    login: str,
    approve: bool = True,
    callback_prefix: str,
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    """Like ``consent``, then open the callback and follow its redirects; return the final response."""
    async with _browser(client) as browser:
        callback = await _walk(browser, httpx.URL(str(authorize_url)), login, approve, callback_prefix)
        return await browser.get(callback, follow_redirects=True)


@asynccontextmanager
async def _browser(client: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    if client is not None:
        yield client
        return
    # trust_env=False: a developer's proxy settings must not capture loopback traffic.
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as fresh:
        yield fresh


async def _walk(
    browser: httpx.AsyncClient, url: httpx.URL, login: str, approve: bool, stop_at_prefix: str
) -> httpx.URL:
    server_origin = _origin(url)
    request = browser.build_request("GET", url)
    for _ in range(MAX_STEPS):
        # Redirects are handled here, not by httpx, so that the callback is never requested.
        response = await browser.send(request, follow_redirects=False)
        if response.is_redirect:
            target = response.url.join(response.headers["location"])
            if str(target).startswith(stop_at_prefix):
                return target
            _require_origin(target, server_origin)
            request = browser.build_request("GET", target)
        else:
            request = _answer_page(browser, response, login, approve)
    raise BrowserError(f"no redirect to {stop_at_prefix} after {MAX_STEPS} steps")


def _answer_page(
    browser: httpx.AsyncClient, response: httpx.Response, login: str, approve: bool
) -> httpx.Request:
    """Turn a login or consent page into the request a user would send next."""
    if response.status_code != 200 or "html" not in response.headers.get("content-type", ""):
        raise BrowserError(f"unexpected page {response.status_code} at {response.url}: {response.text[:500]}")
    page = _PageParser()
    page.feed(response.text)
    form = _interaction_form(page, response)
    prompt = form.fields["prompt"]
    if not approve and prompt == "consent":
        return browser.build_request("GET", _cancel_link(page, response))
    if prompt == "login":
        # devInteractions accepts any password; the login name becomes the subject.
        form.fields.update(login=login, password="any-password")
    return browser.build_request(form.method, response.url.join(form.action), data=form.fields)


def _interaction_form(page: _PageParser, response: httpx.Response) -> _Form:
    for form in page.forms:
        if form.fields.get("prompt") in {"login", "consent"}:
            return form
    raise BrowserError(f"no login or consent form at {response.url}: {response.text[:500]}")


def _cancel_link(page: _PageParser, response: httpx.Response) -> httpx.URL:
    # oidc-provider's pages link "[ Cancel ]" to /interaction/<uid>/abort.
    for href in page.links:
        if href.rstrip("/").endswith("/abort"):
            return response.url.join(href)
    raise BrowserError(f"no cancel link at {response.url}")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _require_origin(target: httpx.URL, origin: tuple[str, str, int | None]) -> None:
    if _origin(target) != origin:
        raise BrowserError(f"redirect left the authorization server: {target}")

"""Pure OAuth 2.0 request builders (no I/O) and PKCE/state helpers.

The response parsers live in :mod:`shared.providers.parsing` and are re-exported
here so callers need a single import.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from shared.errors import BadRequest
from shared.providers.models import FORM, Provider, RequestConfig
from shared.providers.parsing import parse_token_response, parse_user_info
from shared.providers.placeholders import render

__all__ = [
    "HttpRequestSpec",
    "build_authorize_url",
    "build_refresh_request",
    "build_revocation_request",
    "build_token_request",
    "build_user_info_request",
    "can_refresh",
    "code_challenge_s256",
    "new_code_verifier",
    "new_state",
    "parse_token_response",
    "parse_user_info",
]

_SCOPE_PLACEHOLDERS = ("{{scopes}}", "{{existing_scopes}}")


@dataclass(frozen=True)
class HttpRequestSpec:
    """A request to send to a provider; at most one of ``form``/``json`` is set."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None
    json: dict[str, Any] | None = None

    def __repr__(self) -> str:
        # Bodies and Authorization carry secrets; never let them reach a log line.
        parts = urlsplit(self.url)
        return f"HttpRequestSpec({self.method} {parts.scheme}://{parts.netloc}{parts.path})"


def new_state() -> str:
    """Return an unguessable ``state`` value (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def new_code_verifier() -> str:
    """Return an RFC 7636 code verifier: 64 unreserved characters (43-128 allowed)."""
    return secrets.token_urlsafe(48)


def code_challenge_s256(verifier: str) -> str:
    """Return the S256 code challenge for ``verifier`` (BASE64URL(SHA256), unpadded)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _scope_list(template: str, delimiter: str, values: dict[str, list[str]]) -> str:
    """Render a scope-bearing param as a deduplicated list (no empty items).

    Splitting on whitespace too means ``"{{scopes}} {{existing_scopes}}"`` also works
    for comma-delimited providers: scope tokens never contain spaces (RFC 6749 §3.3).
    """
    items: list[str] = []
    for chunk in template.split(delimiter):
        for word in chunk.split():
            items.extend(values.get(word, [word]))
    return delimiter.join(dict.fromkeys(item for item in items if item))


def _render_params(
    params: dict[str, str], values: dict[str, str], delimiter: str, scopes: dict[str, list[str]]
) -> dict[str, str]:
    """Render every param; drop the ones that render empty (an empty value is never useful)."""
    out: dict[str, str] = {}
    for key, template in params.items():
        if any(p in template for p in _SCOPE_PLACEHOLDERS):
            value = _scope_list(template, delimiter, scopes)
        else:
            value = render(template, values)
        if value:
            out[key] = value
    return out


def _values(provider: Provider, **extra: str | None) -> dict[str, str]:
    values = {"client_id": provider.client_id, "client_secret": provider.secret}
    values.update({k: v for k, v in extra.items() if v is not None})
    return values


def build_authorize_url(
    provider: Provider,
    *,
    redirect_uri: str,
    scopes: list[str],
    existing_scopes: list[str],
    state: str,
    code_challenge: str | None,
) -> str:
    """Build the URL the user opens to grant access.

    Args:
        provider: The resolved provider.
        redirect_uri: Our callback URL, registered at the provider.
        scopes: Scopes requested now (provider ``extra_scopes`` are added).
        existing_scopes: Scopes already granted, for incremental consent.
        state: The anti-CSRF state; always added.
        code_challenge: S256 challenge; required when the provider uses PKCE.

    Returns:
        The authorization URL; params that render empty are left out.

    Raises:
        BadRequest: PKCE is enabled but no code challenge was given.
    """
    config = provider.oauth2
    scope_values = {
        "{{scopes}}": [*scopes, *provider.quirks.extra_scopes],
        "{{existing_scopes}}": list(existing_scopes),
    }
    values = _values(provider, redirect_uri=redirect_uri, state=state)
    params = _render_params(config.authorize_request.params, values, config.scope_delimiter, scope_values)
    params["state"] = state
    if config.pkce.enabled:
        if not code_challenge:
            raise BadRequest(f"provider {provider.id} uses PKCE: a code challenge is required")
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = config.pkce.code_challenge_method
    return _with_query(_endpoint(config.authorize_request), params)


def _endpoint(request: RequestConfig) -> str:
    if not request.endpoint:  # resolve() guarantees this; keeps mypy and callers honest
        raise BadRequest("request has no endpoint")
    return request.endpoint


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def _basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: form-urlencode id and secret before base64.
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _spec(
    request: RequestConfig, provider: Provider, body: dict[str, str], values: dict[str, str]
) -> HttpRequestSpec:
    """Apply client authentication, headers and encoding to rendered params."""
    headers = _render_params(request.headers, values, " ", {})
    if not any(name.lower() == "accept" for name in headers):
        headers["Accept"] = "application/json"  # GitHub and others answer form-encoded otherwise
    method, secret = request.auth_method, provider.secret
    if method == "client_secret_basic" and secret:
        headers["Authorization"] = _basic(provider.client_id, secret)
        body = {k: v for k, v in body.items() if k not in ("client_id", "client_secret")}
    elif method == "client_secret_post":
        body = {"client_id": provider.client_id, **body}
        if secret:
            body.setdefault("client_secret", secret)
    elif method == "bearer_access_token" and values.get("access_token"):
        header_format = request.auth_header_value_format or "Bearer {{access_token}}"
        headers["Authorization"] = render(header_format, values)
    url = _endpoint(request)
    if request.method == "GET":
        return HttpRequestSpec("GET", _with_query(url, body) if body else url, headers)
    if not body:
        return HttpRequestSpec("POST", url, headers)
    if request.request_content_type == FORM:
        return HttpRequestSpec("POST", url, headers, form=body)
    return HttpRequestSpec("POST", url, headers, json=dict(body))


def build_token_request(
    provider: Provider, *, code: str, redirect_uri: str, code_verifier: str | None
) -> HttpRequestSpec:
    """Build the authorization-code exchange.

    Args:
        provider: The resolved provider.
        code: The code from the callback.
        redirect_uri: The same redirect URI used in the authorize request.
        code_verifier: The PKCE verifier; required when the provider uses PKCE.

    Returns:
        The request; with ``client_secret_basic`` the client credentials are in the
        Authorization header and removed from the body.

    Raises:
        BadRequest: PKCE is enabled but no verifier was given.
    """
    request = provider.oauth2.token_request
    values = _values(provider, redirect_uri=redirect_uri, code=code)
    body = _render_params(request.params, values, provider.oauth2.scope_delimiter, {})
    body.setdefault("grant_type", "authorization_code")
    body["code"] = code
    if provider.oauth2.pkce.enabled:
        if not code_verifier:
            raise BadRequest(f"provider {provider.id} uses PKCE: a code verifier is required")
        body["code_verifier"] = code_verifier
    return _spec(request, provider, body, values)


def can_refresh(provider: Provider, *, refresh_token: str | None, access_token: str | None) -> bool:
    """True when a refresh request can be built for this provider and these tokens.

    It cannot when the provider has no refresh request, or when there is no refresh
    token and the request does not authenticate with the access token.
    """
    request = provider.oauth2.refresh_token_request
    if request is None:
        return False
    return bool(refresh_token) or (request.auth_method == "bearer_access_token" and bool(access_token))


def build_refresh_request(
    provider: Provider, *, refresh_token: str | None, access_token: str | None = None
) -> HttpRequestSpec | None:
    """Build a refresh request, or return None when refresh is impossible.

    Refresh is impossible when the provider has no refresh request, or when there is
    no refresh token and the request does not authenticate with the access token.

    Args:
        provider: The resolved provider.
        refresh_token: The stored refresh token, if any.
        access_token: The current access token (for ``bearer_access_token``).

    Returns:
        The request, or None.
    """
    request = provider.oauth2.refresh_token_request
    if request is None or not can_refresh(provider, refresh_token=refresh_token, access_token=access_token):
        return None
    values = _values(provider, refresh_token=refresh_token, access_token=access_token)
    body = _render_params(request.params, values, provider.oauth2.scope_delimiter, {})
    body.setdefault("grant_type", "refresh_token")
    # Arcade's documented example omits refresh_token from params: the engine adds it.
    if refresh_token:
        body.setdefault("refresh_token", refresh_token)
    return _spec(request, provider, body, values)


def build_user_info_request(provider: Provider, access_token: str) -> HttpRequestSpec | None:
    """Build the user-info request (bearer token), or None when none is configured.

    Args:
        provider: The resolved provider.
        access_token: The access token just granted or refreshed.

    Returns:
        The request, or None.
    """
    request = provider.oauth2.user_info_request
    if request is None:
        return None
    values = _values(provider, access_token=access_token)
    body = _render_params(request.params, values, provider.oauth2.scope_delimiter, {})
    return _spec(request, provider, body, values)


def build_revocation_request(
    provider: Provider, token: str, *, token_type_hint: str | None = None
) -> HttpRequestSpec | None:
    """Build an RFC 7009 revocation request, or None when the provider has no revocation endpoint.

    Args:
        provider: The resolved provider.
        token: The access or refresh token to revoke.
        token_type_hint: ``"access_token"`` or ``"refresh_token"``, when known.

    Returns:
        The request (client authentication as configured), or None.
    """
    request = provider.oauth2.token_revocation_request
    if request is None:
        return None
    values = _values(provider)
    body = _render_params(request.params, values, provider.oauth2.scope_delimiter, {})
    body["token"] = token
    if token_type_hint:
        body["token_type_hint"] = token_type_hint
    return _spec(request, provider, body, values)

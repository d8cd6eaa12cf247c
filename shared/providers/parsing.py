"""Pure parsers for token, refresh and user-info responses.

Error policy: a body carrying ``error`` is an OAuth error even with HTTP 200
(GitHub, Slack).  ``invalid_grant`` (and the provider's ``invalid_grant_errors``)
raise :class:`InvalidGrant`; 5xx/429 raise :class:`ProviderUnavailable`;
anything else unusable raises :class:`ProviderError`.  Messages never contain
token values: only error codes, the provider's short description and statuses.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl

from shared.errors import InvalidGrant, ProviderError, ProviderUnavailable
from shared.providers.models import Provider, RequestConfig, TokenGrant
from shared.providers.response_map import apply_response_map

_STANDARD = ("access_token", "refresh_token", "expires_in", "expires_at", "scope", "token_type", "id_token")
_SECRET_WORDS = ("secret", "password")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _decode(content_type: str, body: bytes) -> Any:
    """Decode a JSON or form body.

    The body is sniffed before the Content-Type is trusted: servers mislabel
    (GitHub's form answers, JSON sent as text/plain), and the two shapes cannot
    be confused (a JSON document starts with ``{``/``[``, a form never does).
    """
    text = body.decode("utf-8", errors="replace").strip()
    kind = content_type.split(";")[0].strip().lower()
    if text.startswith(("{", "[")) or kind.endswith("json"):
        try:
            return json.loads(text)
        except ValueError:
            return None
    if kind == "application/x-www-form-urlencoded" or ("=" in text and not text.startswith("<")):
        return dict(parse_qsl(text, keep_blank_values=True))
    return None


def _is_secret_key(key: str) -> bool:
    # camelCase names (accessToken, clientSecret) are judged as their snake_case spelling
    lowered = _CAMEL_HUMP.sub("_", key).lower()
    return (
        lowered in ("token", "code", "code_verifier")
        or lowered.endswith("_token")
        or any(word in lowered for word in _SECRET_WORDS)
    )


def _scrub(value: Any) -> Any:
    """Drop token-like keys at any depth (Slack's ``authed_user`` holds a token)."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not _is_secret_key(str(k))}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def _short(text: Any) -> str:
    return str(text)[:200] if text else ""


def _raise_for_error(provider: Provider, status: int, document: Any, retry_after: float | None) -> None:
    if status == 429 or status >= 500:
        raise ProviderUnavailable(
            f"provider {provider.id} answered HTTP {status}", status_code=status, retry_after=retry_after
        )
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):  # some APIs nest {"error": {"code": ..., "message": ...}}
        error = error.get("code") or error.get("type") or "error"
    if error:
        code = str(error)
        description = _short(document.get("error_description"))
        message = f"provider {provider.id} returned {code}" + (f": {description}" if description else "")
        if code == "invalid_grant" or code in provider.quirks.invalid_grant_errors:
            raise InvalidGrant(message, provider_error=code, status_code=status)
        raise ProviderError(message, provider_error=code, status_code=status)
    if status >= 400:
        raise ProviderError(f"provider {provider.id} answered HTTP {status}", status_code=status)
    if not isinstance(document, dict):
        raise ProviderError(f"provider {provider.id} sent an unreadable response", status_code=status)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, str) and not re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        try:  # an ISO-8601 expires_at
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    seconds = _number(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds and seconds > 0 else None


def _expiry(request: RequestConfig, fields: dict[str, Any], now: datetime) -> datetime | None:
    if fields.get("expires_at") is not None:
        return _timestamp(fields["expires_at"])
    if request.expiration_format == "absolute_unix_timestamp":
        return _timestamp(fields.get("expires_in"))
    seconds = _number(fields.get("expires_in"))
    # Missing or non-positive expires_in: the token carries no expiry (GitHub classic).
    return now + timedelta(seconds=seconds) if seconds and seconds > 0 else None


def _scopes(value: Any, delimiter: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [str(item) for item in value if str(item)]
    text = str(value)
    if delimiter in (" ", ","):
        # GitHub asks with spaces but answers "repo,gist": accept either separator.
        return [item for item in re.split(r"[\s,]+", text) if item]
    return [item.strip() for item in text.split(delimiter) if item.strip()]


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def parse_token_response(
    provider: Provider,
    *,
    kind: Literal["token", "refresh"],
    status_code: int,
    content_type: str,
    body: bytes,
    now: datetime,
    retry_after: float | None = None,
) -> TokenGrant:
    """Parse a token or refresh response into a :class:`TokenGrant`.

    Args:
        provider: The resolved provider.
        kind: ``"token"`` (code exchange) or ``"refresh"``; selects the response_map.
        status_code: HTTP status.
        content_type: The response Content-Type (may be empty).
        body: Raw body.
        now: The time the response was received (aware datetime).
        retry_after: Seconds from a Retry-After header, kept on ProviderUnavailable.

    Returns:
        The grant; ``expires_at`` is None when the provider gives no expiry.

    Raises:
        InvalidGrant: The code or refresh token is no longer valid.
        ProviderUnavailable: HTTP 5xx or 429 (retryable).
        ProviderError: Any other OAuth error or unusable response.
    """
    config = provider.oauth2
    request = (
        config.token_request if kind == "token" else config.refresh_token_request or config.token_request
    )
    document = _decode(content_type, body)
    _raise_for_error(provider, status_code, document, retry_after)
    fields = {key: document.get(key) for key in _STANDARD}
    if "scope" not in document and "scopes" in document:
        fields["scope"] = document["scopes"]
    fields.update(apply_response_map(request.response_map, document))
    access_token = _text(fields.get("access_token"))
    if access_token is None:
        raise ProviderError(f"provider {provider.id} response has no access_token", status_code=status_code)
    # Intuit names it x_refresh_token_expires_in: a response_map may point elsewhere.
    refresh_expiry = _number(fields.get("refresh_token_expires_in", document.get("refresh_token_expires_in")))
    return TokenGrant(
        access_token=access_token,
        refresh_token=_text(fields.get("refresh_token")),
        token_type=_text(fields.get("token_type")) or "Bearer",
        expires_at=_expiry(request, fields, now),
        refresh_expires_at=now + timedelta(seconds=refresh_expiry) if refresh_expiry else None,
        scopes=_scopes(fields.get("scope"), config.scope_delimiter),
        id_token=_text(fields.get("id_token")),
        extra=_scrub({k: v for k, v in document.items() if k not in _STANDARD and k != "scopes"}),
    )


def parse_user_info(
    provider: Provider,
    status_code: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    retry_after: float | None = None,
) -> dict[str, Any]:
    """Parse a user-info response (whole document, or its ``response_map``).

    Args:
        provider: The resolved provider.
        status_code: HTTP status.
        body: Raw body.
        content_type: The response Content-Type.
        retry_after: Seconds from a Retry-After header.

    Returns:
        The user info, with token-like keys removed.

    Raises:
        ProviderUnavailable: HTTP 5xx or 429.
        ProviderError: Error status or unreadable body.
    """
    document = _decode(content_type, body)
    _raise_for_error(provider, status_code, document, retry_after)
    request = provider.oauth2.user_info_request
    if request is not None and request.response_map:
        document = apply_response_map(request.response_map, document)
    result: dict[str, Any] = _scrub(document)
    return result


def parse_revocation(
    provider: Provider,
    status_code: int,
    body: bytes,
    *,
    content_type: str = "",
    retry_after: float | None = None,
) -> None:
    """Check an RFC 7009 revocation answer: HTTP 200 (any body, often empty) means revoked.

    An unknown or already invalid token is also answered 200 (RFC 7009 §2.2).

    Raises:
        ProviderUnavailable: HTTP 5xx or 429 (``unavailable``/``slow_down`` included).
        ProviderError: An OAuth error (``unsupported_token_type``, ``invalid_client``...) or other status.
    """
    document = _decode(content_type, body)
    if status_code < 400 and not (isinstance(document, dict) and document.get("error")):
        return
    _raise_for_error(provider, status_code, document if isinstance(document, dict) else {}, retry_after)
    raise ProviderError(f"provider {provider.id} answered HTTP {status_code}", status_code=status_code)

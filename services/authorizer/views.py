"""Pure translation between the admin API's JSON and provider entries / connections."""

from __future__ import annotations

from typing import Any

from shared.errors import BadRequest
from shared.providers.models import Provider, RequestConfig
from shared.providers.registry import ProviderRecord
from shared.tokens.store import Connection

_READ_ONLY = ("created_at", "updated_at", "binding", "source", "redirect_uri")
_REQUESTS = {
    "authorize_request": "authorize_request",
    "token_request": "token_request",
    "refresh_request": "refresh_token_request",
    "user_info_request": "user_info_request",
    "token_introspection_request": "token_introspection_request",
    "token_revocation_request": "token_revocation_request",  # RFC 7009; a valetkey extension
}


def _drop_nulls(value: Any) -> Any:
    """``null`` means absent in every request body (docs/arcade-compatibility.md §1.2)."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value


def entry_from_body(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Turn an admin create/patch body into an engine.yaml-shaped entry.

    Args:
        body: ``AuthProviderCreateRequest`` or a patch of it.

    Returns:
        The entry (``status`` mapped to ``enabled``, client credentials hoisted out of
        ``oauth2``, read-only fields dropped) and the ``external_id``, if any.

    Raises:
        BadRequest: A status other than active/inactive, or a non-object ``oauth2``.
    """
    entry = _drop_nulls(dict(body))
    external_id = entry.pop("external_id", None)
    for key in _READ_ONLY:
        entry.pop(key, None)
    status = entry.pop("status", None)
    if status is not None:
        if status not in ("active", "inactive", "disabled"):
            raise BadRequest("status must be 'active' or 'inactive'")
        entry["enabled"] = status == "active"
    oauth2 = entry.get("oauth2")
    if oauth2 is not None and not isinstance(oauth2, dict):
        raise BadRequest("oauth2 must be an object")
    if isinstance(oauth2, dict):
        oauth2 = dict(oauth2)
        oauth2.pop("redirect_uri", None)
        for key in ("client_id", "client_secret"):
            if key in oauth2:
                entry[key] = _secret_value(oauth2.pop(key))
        entry["oauth2"] = oauth2
    return entry, str(external_id) if external_id is not None else None


def _secret_value(value: Any) -> Any:
    # A client echoing a SecretView back ({"value": ...}) means "keep", which a missing value does.
    return value.get("value") if isinstance(value, dict) else value


def merge_entry(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge a patch over a stored entry (dicts key by key, anything else replaces)."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_entry(out[key], value)
        elif value is not None:
            out[key] = value
    return out


def secret_view(secret: str) -> dict[str, Any]:
    """Arcade's SecretView: whether a secret exists and a short hint, never the value."""
    hint = f"…{secret[-4:]}" if len(secret) >= 16 else None
    return {"binding": "static", "editable": True, "exists": bool(secret), "hint": hint, "value": None}


def _request_view(request: RequestConfig | None) -> dict[str, Any] | None:
    return None if request is None else request.model_dump(mode="json")


def _oauth2_view(provider: Provider, redirect_uri: str) -> dict[str, Any]:
    config = provider.oauth2
    view: dict[str, Any] = {
        "client_id": provider.client_id,
        "client_secret": secret_view(provider.secret),
        "redirect_uri": redirect_uri,
        "scope_delimiter": config.scope_delimiter,
        "pkce": config.pkce.model_dump(mode="json"),
    }
    for wire, field in _REQUESTS.items():
        view[wire] = _request_view(getattr(config, field))
    return view


def provider_view(record: ProviderRecord, redirect_uri: str) -> dict[str, Any]:
    """``AuthProviderResponse`` (docs/arcade-compatibility.md §4.1) for one provider."""
    provider = record.provider
    return {
        "id": provider.id,
        "description": provider.description,
        "external_id": record.external_id,
        "provider_id": provider.builtin_id if provider.builtin_id != "oauth2" else None,
        "type": "oauth2",
        "status": "active" if provider.enabled else "inactive",
        "source": record.source,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "binding": {"id": None, "type": "static" if record.source == "config" else "project"},
        "oauth2": _oauth2_view(provider, redirect_uri),
    }


def connection_view(
    connection: Connection, record: ProviderRecord | None, user_info: dict[str, Any]
) -> dict[str, Any]:
    """``UserConnectionResponse`` (docs/arcade-compatibility.md §4.3) for one connection."""
    return {
        "id": connection.id,
        "connection_id": connection.id,
        "connection_status": connection.status,
        "provider_id": connection.provider_id,
        "provider_type": connection.provider_type,
        "provider_description": record.provider.description if record else "",
        "provider_user_info": user_info,
        "scopes": connection.scopes,
        "user_id": connection.user_id,
        "created_at": connection.created_at,
        "updated_at": connection.updated_at,
        "expires_at": connection.expires_at,
        # Not in Arcade's shape: the console shows it; over HTTP an extra (docs/arcade-compatibility.md §1.6).
        "refresh_failures": connection.refresh_failures,
        "last_used_at": connection.last_used_at,
    }

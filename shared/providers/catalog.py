"""Built-in provider catalog and resolution of ``engine.yaml`` entries.

A built-in is enabled with ``provider_id`` plus client id/secret; any ``oauth2``
keys the user writes are deep-merged over the catalog's (dicts merge key by key,
everything else replaces).  To drop a catalog param, set it to ``""``: params
that render empty are never sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import ConfigError
from shared.providers.models import (
    OAuth2Config,
    Provider,
    ProviderEntry,
    Quirks,
    RequestConfig,
    ResolvedOAuth2,
)
from shared.runtime.config import is_http_url

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")


class CatalogEntry(BaseModel):
    """One built-in provider in ``catalog.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    docs: str = ""
    quirks: Quirks = Field(default_factory=Quirks)
    oauth2: OAuth2Config


@dataclass(frozen=True)
class Catalog:
    """The validated built-in providers, by provider_id."""

    entries: Mapping[str, CatalogEntry]

    def get(self, provider_id: str) -> CatalogEntry | None:
        """Return the built-in provider named ``provider_id``, if any."""
        return self.entries.get(provider_id)


def _key(prefix: str, loc: Iterable[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def config_error(exc: ValidationError, *, file: str = "", key: str = "") -> ConfigError:
    """Turn a pydantic error into a ConfigError naming the first bad key.

    Input values are never quoted: they may be secrets.
    """
    problems = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if not str(p).startswith("function-")]
        message = "unknown key (typo?)" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append((_key(key, loc), message))
    first_key = problems[0][0] if problems else key
    text = "; ".join(f"{where or '(entry)'}: {what}" for where, what in problems)
    return ConfigError(text, file=file, key=first_key if len(problems) == 1 else "")


def parse_entry(raw: Mapping[str, Any], *, file: str = "", key: str = "") -> ProviderEntry:
    """Validate one ``auth.providers[]`` item.

    Args:
        raw: The item as loaded from YAML (after ``${env:...}`` substitution).
        file: The config file name, for error messages.
        key: The item's location, e.g. ``auth.providers[2]``.

    Raises:
        ConfigError: Unknown key, wrong type or missing id; names the key.
    """
    try:
        return ProviderEntry.model_validate(dict(raw))
    except ValidationError as exc:
        raise config_error(exc, file=file, key=key) from None


@lru_cache(maxsize=4)
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Load and validate ``catalog.yaml`` (cached).

    Raises:
        ConfigError: The catalog is malformed (a bug in valetkey).
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    providers = data.get("providers") if isinstance(data, dict) else None
    if not isinstance(providers, dict):
        raise ConfigError("expected a 'providers' mapping", file=str(path))
    entries: dict[str, CatalogEntry] = {}
    for provider_id, raw in providers.items():
        try:
            entries[str(provider_id)] = CatalogEntry.model_validate(raw)
        except ValidationError as exc:
            raise config_error(exc, file=str(path), key=f"providers.{provider_id}") from None
    return Catalog(entries)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _check_request(request: RequestConfig | None, key: str, *, file: str, required: bool) -> None:
    if request is None:
        if required:
            raise ConfigError("is required for a custom provider", file=file, key=key)
        return
    if not request.endpoint:
        raise ConfigError("endpoint is required", file=file, key=f"{key}.endpoint")
    if not is_http_url(request.endpoint):
        raise ConfigError("endpoint must be an absolute http(s) URL", file=file, key=f"{key}.endpoint")


def _default_refresh(token: RequestConfig) -> RequestConfig:
    """RFC 6749 §6 refresh at the token endpoint, authenticated like the code exchange."""
    params = {
        "grant_type": "refresh_token",
        "refresh_token": "{{refresh_token}}",
        "client_id": "{{client_id}}",
        "client_secret": "{{client_secret}}",
    }
    return token.model_copy(update={"params": params, "response_map": {}})


def _complete(oauth2: OAuth2Config, quirks: Quirks, *, file: str, key: str) -> ResolvedOAuth2:
    for name in ("authorize_request", "token_request"):
        _check_request(getattr(oauth2, name), _key(key, ["oauth2", name]), file=file, required=True)
    optional = ("refresh_token_request", "user_info_request", "token_introspection_request")
    for name in (*optional, "token_revocation_request"):
        _check_request(getattr(oauth2, name), _key(key, ["oauth2", name]), file=file, required=False)
    assert oauth2.authorize_request is not None
    assert oauth2.token_request is not None
    refresh = oauth2.refresh_token_request
    if refresh is None and quirks.supports_refresh:
        refresh = _default_refresh(oauth2.token_request)
    return ResolvedOAuth2(
        scope_delimiter=oauth2.scope_delimiter,
        pkce=oauth2.pkce,
        authorize_request=oauth2.authorize_request,
        token_request=oauth2.token_request,
        refresh_token_request=refresh if quirks.supports_refresh else None,
        user_info_request=oauth2.user_info_request,
        token_introspection_request=oauth2.token_introspection_request,
        token_revocation_request=oauth2.token_revocation_request,
    )


def _merged_oauth2(entry: ProviderEntry, base: CatalogEntry | None, *, file: str, key: str) -> OAuth2Config:
    user = entry.oauth2.model_dump(exclude_unset=True) if entry.oauth2 else {}
    if base is None:
        return entry.oauth2 or OAuth2Config()
    try:
        return OAuth2Config.model_validate(_merge(base.oauth2.model_dump(exclude_unset=True), user))
    except ValidationError as exc:
        raise config_error(exc, file=file, key=_key(key, ["oauth2"])) from None


def resolve(
    entry: ProviderEntry | Mapping[str, Any],
    catalog: Catalog | None = None,
    *,
    file: str = "",
    key: str = "",
) -> Provider:
    """Turn an ``engine.yaml`` provider entry into a complete :class:`Provider`.

    Args:
        entry: The entry, validated or raw.
        catalog: Built-in providers; the packaged catalog when omitted.
        file: Config file name for error messages.
        key: The entry's location, e.g. ``auth.providers[0]``.

    Returns:
        The provider; a default refresh request (grant_type=refresh_token at the
        token endpoint) is added when none is configured and the provider supports it.

    Raises:
        ConfigError: Unknown provider_id, missing request block or endpoint, missing
            client_id on an enabled provider, unknown key...; names the key.
    """
    if not isinstance(entry, ProviderEntry):
        entry = parse_entry(entry, file=file, key=key)
    catalog = catalog or load_catalog()
    base = catalog.get(entry.provider_id) if entry.provider_id else None
    if entry.provider_id and base is None:
        known = ", ".join(sorted(catalog.entries))
        raise ConfigError(
            f"unknown built-in provider {entry.provider_id!r} (known: {known})",
            file=file,
            key=_key(key, ["provider_id"]),
        )
    provider_id = entry.id or entry.provider_id or ""
    if entry.enabled and not entry.client_id:
        raise ConfigError("client_id is required", file=file, key=_key(key, ["client_id"]))
    quirks = base.quirks if base else Quirks()
    oauth2 = _complete(_merged_oauth2(entry, base, file=file, key=key), quirks, file=file, key=key)
    return Provider(
        id=provider_id,
        builtin_id=entry.provider_id or "oauth2",
        description=entry.description or (base.description if base else ""),
        enabled=entry.enabled,
        client_id=entry.client_id,
        client_secret=entry.client_secret,
        oauth2=oauth2,
        quirks=quirks,
    )


def resolve_all(
    entries: Iterable[ProviderEntry | Mapping[str, Any]],
    catalog: Catalog | None = None,
    *,
    file: str = "",
    key: str = "auth.providers",
) -> dict[str, Provider]:
    """Resolve every entry; provider ids must be unique.

    Raises:
        ConfigError: Any entry is invalid, or two entries share an id.
    """
    providers: dict[str, Provider] = {}
    for index, entry in enumerate(entries):
        provider = resolve(entry, catalog, file=file, key=f"{key}[{index}]")
        if provider.id in providers:
            raise ConfigError(f"duplicate provider id {provider.id!r}", file=file, key=f"{key}[{index}].id")
        providers[provider.id] = provider
    return providers

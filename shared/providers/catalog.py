"""Built-in provider catalog and resolution of ``engine.yaml`` entries.

A built-in is enabled with ``provider_id`` plus client id/secret; any ``oauth2``
keys the user writes are deep-merged over the catalog's (dicts merge key by key,
everything else replaces).  To drop a catalog param, set it to ``""``: params
that render empty are never sent.

The catalog is every ``catalog*.yaml`` beside this module (Arcade's built-ins, the
providers Arcade documents as custom recipes, and more).  A built-in whose endpoints
live on the customer's own host (Zendesk, Okta, Shopify, Salesforce...) declares
``variables``; the entry gives their values (``variables: {subdomain: acme}``) and
``{subdomain}`` in the catalog's endpoints is replaced by them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.errors import ConfigError
from shared.providers.models import (
    OAuth2Config,
    Provider,
    ProviderEntry,
    Quirks,
    RequestConfig,
    ResolvedOAuth2,
)
from shared.runtime.config_base import is_http_url

CATALOG_DIR = Path(__file__).parent
_VARIABLE_RE = re.compile(r"(?<!\{)\{([a-z_]+)\}(?!\})")
_HOST_PART = r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"


class Variable(BaseModel):
    """A per-tenant part of a built-in's endpoints, given by the entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    example: str  # for the docs and the tests
    default: str | None = None
    #: What a value must match in full; a host name or one label by default, so a value
    #: cannot add a path, a port or a user to the endpoint.
    pattern: str = _HOST_PART

    @model_validator(mode="after")
    def _example_and_default_match(self) -> Variable:
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern: {exc}") from None
        for name in ("example", "default"):
            value = getattr(self, name)
            if value is not None and not compiled.fullmatch(value):
                raise ValueError(f"{name} {value!r} does not match the pattern")
        return self


class CatalogEntry(BaseModel):
    """One built-in provider in a ``catalog*.yaml`` file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    docs: str = ""
    #: The provider's refresh-token rules in a few words (lifetime, rotation), for docs/providers.md.
    refresh: str = ""
    #: Older provider_ids Arcade's docs used for it (``squareup``); they still resolve.
    aliases: list[str] = Field(default_factory=list)
    quirks: Quirks = Field(default_factory=Quirks)
    variables: dict[str, Variable] = Field(default_factory=dict)
    oauth2: OAuth2Config

    @model_validator(mode="after")
    def _variables_declared_and_used(self) -> CatalogEntry:
        used = set()
        for request in self.oauth2.model_dump(exclude_unset=True).values():
            if isinstance(request, dict) and isinstance(request.get("endpoint"), str):
                used |= set(_VARIABLE_RE.findall(request["endpoint"]))
        if undeclared := used - set(self.variables):
            raise ValueError(f"endpoints use undeclared variables: {', '.join(sorted(undeclared))}")
        if unused := set(self.variables) - used:
            raise ValueError(f"variables no endpoint uses: {', '.join(sorted(unused))}")
        return self


@dataclass(frozen=True)
class Catalog:
    """The validated built-in providers, by provider_id."""

    entries: Mapping[str, CatalogEntry]
    aliases: Mapping[str, str] = field(default_factory=dict)  # an older provider_id -> its id

    def canonical(self, provider_id: str) -> str:
        """The catalog's id for ``provider_id`` (itself unless it is an older alias)."""
        return self.aliases.get(provider_id, provider_id)

    def get(self, provider_id: str) -> CatalogEntry | None:
        """Return the built-in provider named ``provider_id`` (or by an older alias), if any."""
        return self.entries.get(self.canonical(provider_id))


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


def _load_file(path: Path, entries: dict[str, CatalogEntry]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    providers = data.get("providers") if isinstance(data, dict) else None
    if not isinstance(providers, dict):
        raise ConfigError("expected a 'providers' mapping", file=str(path))
    for provider_id, raw in providers.items():
        key = f"providers.{provider_id}"
        if str(provider_id) in entries:
            raise ConfigError("defined in two catalog files", file=str(path), key=key)
        try:
            entries[str(provider_id)] = CatalogEntry.model_validate(raw)
        except ValidationError as exc:
            raise config_error(exc, file=str(path), key=key) from None


@lru_cache(maxsize=4)
def load_catalog(path: Path = CATALOG_DIR) -> Catalog:
    """Load and validate the catalog (cached): one file, or every ``catalog*.yaml`` in a directory.

    Raises:
        ConfigError: The catalog is malformed (a bug in valetkey).
    """
    files = sorted(path.glob("catalog*.yaml")) if path.is_dir() else [path]
    entries: dict[str, CatalogEntry] = {}
    for file in files:
        _load_file(file, entries)
    aliases: dict[str, str] = {}
    for provider_id, entry in entries.items():
        for alias in entry.aliases:
            if alias in entries or alias in aliases:
                where = f"providers.{provider_id}.aliases"
                raise ConfigError(f"{alias!r} already names a provider", file=str(path), key=where)
            aliases[alias] = provider_id
    return Catalog(entries, aliases)


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


def _variable_values(entry: ProviderEntry, base: CatalogEntry, *, file: str, key: str) -> dict[str, str]:
    declared = base.variables
    for name in entry.variables:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            where = _key(key, ["variables", name])
            raise ConfigError(f"unknown variable (this provider's: {known})", file=file, key=where)
    values: dict[str, str] = {}
    for name, variable in declared.items():
        value = entry.variables.get(name, variable.default)
        where = _key(key, ["variables", name])
        if value is None:
            raise ConfigError(f"is required: {variable.description}", file=file, key=where)
        if not re.fullmatch(variable.pattern, value):
            raise ConfigError(f"must match {variable.pattern}", file=file, key=where)
        values[name] = value
    return values


def _substitute(raw: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """Put the variables' values into every request's endpoint."""
    out = dict(raw)
    for name, request in raw.items():
        if isinstance(request, dict) and isinstance(request.get("endpoint"), str):
            endpoint = _VARIABLE_RE.sub(lambda m: values.get(m.group(1), m.group(0)), request["endpoint"])
            out[name] = {**request, "endpoint": endpoint}
    return out


def _merged_oauth2(entry: ProviderEntry, base: CatalogEntry | None, *, file: str, key: str) -> OAuth2Config:
    user = entry.oauth2.model_dump(exclude_unset=True) if entry.oauth2 else {}
    if base is None:
        if entry.variables:
            where = _key(key, ["variables"])
            raise ConfigError("only a built-in provider takes variables", file=file, key=where)
        return entry.oauth2 or OAuth2Config()
    values = _variable_values(entry, base, file=file, key=key)
    catalog_raw = _substitute(base.oauth2.model_dump(exclude_unset=True), values)
    try:
        return OAuth2Config.model_validate(_merge(catalog_raw, user))
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
        builtin_id=catalog.canonical(entry.provider_id) if entry.provider_id else "oauth2",
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

"""Typed models of an ``engine.yaml`` ``auth.providers[]`` entry (Arcade's format).

Strict: an unknown key is an error (a typo like ``token_requst`` must stop start-up),
except the variants Arcade's docs use (``refresh_request``, ``use_pkce``, ``pkce: true``,
``pkce_code_challenge_method``).  ``endpoint`` is optional here so a user can override
part of a built-in; :func:`shared.providers.catalog.resolve` checks completeness.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from shared.providers.placeholders import AVAILABLE, check_available, check_known

AuthMethod = Literal["none", "client_secret_basic", "client_secret_post", "bearer_access_token"]
ContentType = Literal["application/x-www-form-urlencoded", "application/json"]
ExpirationFormat = Literal["relative_seconds", "absolute_unix_timestamp"]

FORM: Final = "application/x-www-form-urlencoded"
JSON: Final = "application/json"


# Doc variants seen in Arcade's pages (Figma, TickTick, Zoho); they carry no extra meaning.
_AUTH_METHOD_ALIASES = {"": "none", "use_pkce": "none", "pkce_code_challenge_method": "none"}
_CONTENT_TYPE_ALIASES = {"form": FORM, "json": JSON}


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _as_str(value: Any) -> Any:
    """YAML turns ``true``/``3600`` into bool/int; OAuth params are strings on the wire."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class Pkce(_Block):
    """PKCE settings; only S256 exists (``plain`` is refused, RFC 9700 §2.1.1).

    On unless a provider says ``enabled: false``: RFC 9700 asks every client to use PKCE,
    and a provider that does not know it ignores the challenge at the authorize step. The
    catalog turns it off only for providers that refuse or do not document it.
    """

    enabled: bool = True
    code_challenge_method: Literal["S256"] = "S256"

    @field_validator("code_challenge_method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Triggers(_Block):
    """When a user-info or introspection request is made."""

    on_token_grant: bool = True
    on_token_refresh: bool = False


class RequestConfig(_Block):
    """One HTTP exchange with the provider (authorize, token, refresh, ...)."""

    endpoint: str | None = None
    method: Literal["GET", "POST"] = "POST"
    params: dict[str, str] = Field(default_factory=dict)
    auth_method: AuthMethod = "none"
    auth_header_value_format: str = ""
    request_content_type: ContentType = FORM
    response_content_type: ContentType = JSON
    response_map: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    expiration_format: ExpirationFormat = "relative_seconds"

    @model_validator(mode="before")
    @classmethod
    def _drop_doc_variants(cls, data: Any) -> Any:
        # use_pkce / pkce_code_challenge_method appear inside request blocks in some
        # Arcade pages; PKCE itself is driven by oauth2.pkce, so they are accepted and ignored.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in {"use_pkce", "pkce_code_challenge_method"}}
        return data

    @field_validator("method", mode="before")
    @classmethod
    def _method_upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("auth_method", mode="before")
    @classmethod
    def _auth_method(cls, value: Any) -> Any:
        if value is None:
            return "none"
        return _AUTH_METHOD_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("request_content_type", "response_content_type", mode="before")
    @classmethod
    def _content_type(cls, value: Any) -> Any:
        return _CONTENT_TYPE_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("params", "headers", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _as_str(v) for k, v in value.items() if v is not None}
        return value

    @field_validator("params", "headers")
    @classmethod
    def _known_placeholders(cls, value: dict[str, str]) -> dict[str, str]:
        check_known(value)
        return value

    @field_validator("response_map")
    @classmethod
    def _valid_expressions(cls, value: dict[str, str]) -> dict[str, str]:
        from shared.providers.response_map import compile_expression  # avoid an import cycle

        for key, expression in value.items():
            try:
                compile_expression(expression)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return value


class UserInfoRequest(RequestConfig):
    """User-info call; GET with the bearer token unless configured otherwise."""

    method: Literal["GET", "POST"] = "GET"
    auth_method: AuthMethod = "bearer_access_token"
    triggers: Triggers = Field(default_factory=Triggers)


class IntrospectionRequest(RequestConfig):
    """RFC 7662 introspection; parsed and kept, used by the refresher when enabled."""

    enabled: bool = True
    triggers: Triggers = Field(default_factory=Triggers)


class OAuth2Config(_Block):
    """The ``oauth2`` block of a provider entry."""

    scope_delimiter: str = Field(default=" ", min_length=1)
    pkce: Pkce = Field(default_factory=Pkce)
    authorize_request: RequestConfig | None = None
    token_request: RequestConfig | None = None
    refresh_token_request: RequestConfig | None = Field(
        default=None, validation_alias=AliasChoices("refresh_token_request", "refresh_request")
    )
    user_info_request: UserInfoRequest | None = None
    token_introspection_request: IntrospectionRequest | None = None
    token_revocation_request: RequestConfig | None = None  # RFC 7009; an engine extension

    @model_validator(mode="before")
    @classmethod
    def _fold_variants(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "refresh_token_request" in data and "refresh_request" in data:
            raise ValueError("give refresh_token_request or refresh_request, not both")
        data = dict(data)
        if isinstance(data.get("pkce"), bool):  # `pkce: true`, as one of Arcade's Salesforce pages writes it
            data["pkce"] = {"enabled": data["pkce"]}
        # Doc variants: use_pkce / pkce_code_challenge_method at this level mean oauth2.pkce.
        variants = {"enabled": data.pop("use_pkce", None)}
        variants["code_challenge_method"] = data.pop("pkce_code_challenge_method", None)
        if any(value is not None for value in variants.values()):
            pkce = dict(data.get("pkce") or {})
            for key, value in variants.items():
                if value is not None:
                    pkce.setdefault(key, value)
            data["pkce"] = pkce
        return data

    @model_validator(mode="after")
    def _placeholders_have_values(self) -> OAuth2Config:
        for name in AVAILABLE:
            request = getattr(self, name)
            if request is not None:
                check_available(name, request.params)
                check_available(name, request.headers)
        return self


class ProviderEntry(_Block):
    """One ``auth.providers[]`` item exactly as written in ``engine.yaml``.

    ``id`` is required by Arcade; we also accept an entry with only ``provider_id``
    and then use the built-in id as the provider id.
    """

    id: str | None = Field(default=None, min_length=1)
    description: str = ""
    enabled: bool = True
    type: Literal["oauth2"] = "oauth2"
    provider_id: str | None = Field(default=None, min_length=1)
    client_id: str = ""
    client_secret: SecretStr | None = None
    oauth2: OAuth2Config | None = None
    #: Values for a built-in's per-tenant endpoints (``{subdomain}``...); an engine extension.
    variables: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _hoist_client(cls, data: Any) -> Any:
        # The admin API nests client_id/client_secret inside oauth2; accept that shape too.
        if isinstance(data, dict) and isinstance(data.get("pkce"), bool | dict):
            # `pkce: true` beside `enabled:`, as one of Arcade's Salesforce pages writes it.
            data = dict(data)
            oauth2 = dict(data.get("oauth2") or {})
            oauth2.setdefault("pkce", data.pop("pkce"))
            data["oauth2"] = oauth2
        if not isinstance(data, dict) or not isinstance(data.get("oauth2"), dict):
            return data
        data, oauth2 = dict(data), dict(data["oauth2"])
        for key in ("client_id", "client_secret"):
            if key in oauth2:
                value = oauth2.pop(key)
                if data.get(key) in (None, ""):
                    data[key] = value
        data["oauth2"] = oauth2
        return data

    @model_validator(mode="after")
    def _needs_identity(self) -> ProviderEntry:
        if self.id is None and self.provider_id is None:
            raise ValueError("id is required (or provider_id for a built-in provider)")
        return self


class Quirks(_Block):
    """Named provider quirks that data alone (params, response_map) cannot express.

    Attributes:
        extra_scopes: Always requested with ``{{scopes}}`` (Microsoft ``offline_access``).
        invalid_grant_errors: Provider error codes that mean "grant is dead, re-authorize"
            besides ``invalid_grant`` (GitHub ``bad_verification_code``, Slack ``invalid_code``).
        supports_refresh: False when the provider never issues refresh tokens (ClickUp);
            then no default refresh request is synthesised.
    """

    extra_scopes: tuple[str, ...] = ()
    invalid_grant_errors: tuple[str, ...] = ()
    supports_refresh: bool = True


class ResolvedOAuth2(_Block):
    """A complete ``oauth2`` block: authorize and token requests always present."""

    scope_delimiter: str = " "
    pkce: Pkce = Field(default_factory=Pkce)
    authorize_request: RequestConfig
    token_request: RequestConfig
    refresh_token_request: RequestConfig | None = None
    user_info_request: UserInfoRequest | None = None
    token_introspection_request: IntrospectionRequest | None = None
    token_revocation_request: RequestConfig | None = None


class Provider(_Block):
    """A provider ready for use by the services (catalog merged, defaults applied)."""

    id: str
    builtin_id: str  # built-in id such as "google", or "oauth2" for a custom provider
    description: str = ""
    enabled: bool = True
    client_id: str
    client_secret: SecretStr | None = None
    oauth2: ResolvedOAuth2
    quirks: Quirks = Field(default_factory=Quirks)

    @property
    def secret(self) -> str:
        """The client secret in clear ("" when none is configured)."""
        return self.client_secret.get_secret_value() if self.client_secret else ""

    @property
    def can_refresh(self) -> bool:
        """True when a refresh request can be built for this provider."""
        return self.oauth2.refresh_token_request is not None


class TokenGrant(BaseModel):
    """A parsed token (or refresh) response.  Token values are hidden from ``repr``."""

    model_config = ConfigDict(frozen=True)

    access_token: str = Field(repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    token_type: str = "Bearer"
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: list[str] | None = None
    id_token: str | None = Field(default=None, repr=False)
    extra: dict[str, Any] = Field(default_factory=dict)

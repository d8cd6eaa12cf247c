"""Every auth provider the engine knows: from ``engine.yaml`` and created at runtime by the admin API.

Providers from the configuration are resolved once, at construction, so a bad entry
stops the service at start. Providers created through ``/v1/admin/auth_providers``
are persisted in Redis, the whole record encrypted (it carries the client secret)::

    <p>:providers            hash  provider id -> encrypted record {"entry", "created_at", ...}
    <p>:providers:version    counter, incremented by every runtime write

Each process caches the runtime providers and re-reads them when the version counter
moved; the counter itself is read at most once per ``check_interval`` seconds, so a
provider created on one replica is visible on every replica within about a second,
and at once on the replica that wrote it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from shared.contracts.common import utcnow
from shared.errors import BadRequest, ConfigError, Conflict, NotFound, TargetRefused
from shared.providers.catalog import Catalog, load_catalog, parse_entry, resolve, resolve_all
from shared.providers.models import Provider, ProviderEntry
from shared.runtime.addresses import refused_literal
from shared.runtime.crypto import Cipher
from shared.runtime.logging import get_logger

log = get_logger(__name__)

Source = Literal["config", "runtime"]


@dataclass(frozen=True)
class ProviderRecord:
    """A provider with what the admin API shows about it.

    Attributes:
        provider: The resolved provider, ready for flows.
        entry: The entry as written (engine.yaml item or admin body), client secret included.
        source: ``config`` (read-only) or ``runtime`` (admin API).
        created_at: RFC 3339 time of creation (process start for config providers).
        updated_at: RFC 3339 time of the last change.
        external_id: Optional id the admin chose to correlate with their own systems.
    """

    provider: Provider
    entry: dict[str, Any]
    source: Source
    created_at: str
    updated_at: str
    external_id: str | None = None


def normalise_entry(entry: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    """Let a built-in be enabled by its id alone (``id: google`` plus credentials).

    Args:
        entry: A raw provider entry.
        catalog: The built-in providers.

    Returns:
        The entry, with ``provider_id`` set to ``id`` when it names a built-in and
        neither ``provider_id`` nor an ``oauth2`` block was given.
    """
    out = dict(entry)
    ident = out.get("id")
    if not out.get("provider_id") and not out.get("oauth2") and ident and catalog.get(str(ident)):
        out["provider_id"] = ident
    return out


def provider_aad(provider_id: str) -> bytes:
    return f"provider\x00{provider_id}".encode()


def _entry_dict(entry: ProviderEntry) -> dict[str, Any]:
    raw = entry.model_dump(mode="python", exclude_unset=True, by_alias=False)
    if entry.client_secret is not None:
        raw["client_secret"] = entry.client_secret.get_secret_value()
    return raw


def static_records(entries: list[ProviderEntry], catalog: Catalog | None = None) -> dict[str, ProviderRecord]:
    """The providers of ``engine.yaml``, resolved against the catalog.

    Raises:
        ConfigError: An entry is invalid or two share an id.
    """
    catalog = catalog or load_catalog()
    raw = [normalise_entry(_entry_dict(e), catalog) for e in entries]
    resolved = resolve_all(raw, catalog)
    started = utcnow().isoformat()
    return {
        pid: ProviderRecord(provider=p, entry=entry, source="config", created_at=started, updated_at=started)
        for (pid, p), entry in zip(resolved.items(), raw, strict=True)
    }


def check_called_endpoints(provider: Provider) -> None:
    """Refuse a provider whose token, refresh, user-info, introspection or revocation endpoint
    is an IP address the outbound policy refuses (``169.254.169.254``, ``[::ffff:127.0.0.1]``).

    Raises:
        TargetRefused: Naming the request and the address.
    """
    oauth2 = provider.oauth2
    called = {
        "token_request": oauth2.token_request,
        "refresh_token_request": oauth2.refresh_token_request,
        "user_info_request": oauth2.user_info_request,
        "token_introspection_request": oauth2.token_introspection_request,
        "token_revocation_request": oauth2.token_revocation_request,
    }
    for name, request in called.items():
        endpoint = getattr(request, "endpoint", None) if request is not None else None
        if endpoint and (address := refused_literal(endpoint)) is not None:
            raise TargetRefused(
                f"oauth2.{name}.endpoint: {address} is a loopback, private or link-local address; "
                "set security.allow_private_targets to allow it"
            )


class ProviderRegistry:
    """Looks providers up for flows and keeps the runtime ones in Redis.

    Args:
        entries: ``auth.providers`` from engine.yaml.
        redis: Async Redis client (bytes replies).
        cipher: The root-key cipher; runtime records are encrypted with it.
        prefix: Key prefix (``runtime.key_prefix``).
        catalog: Built-in providers (the packaged catalog by default).
        check_interval: Seconds between two reads of the version counter.
        clock: Monotonic clock, injectable for tests.

    Raises:
        ConfigError: A configured entry is invalid or two share an id.
    """

    def __init__(
        self,
        entries: list[ProviderEntry],
        redis: Redis,
        cipher: Cipher,
        *,
        prefix: str = "vk",
        catalog: Catalog | None = None,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._cipher = cipher
        self._catalog = catalog or load_catalog()
        self._key = f"{prefix}:providers"
        self._version_key = f"{prefix}:providers:version"
        self._interval = check_interval
        self._clock = clock
        self._static = self._load_static(entries)
        self._runtime: dict[str, ProviderRecord] = {}
        self._version: bytes | str | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    def _load_static(self, entries: list[ProviderEntry]) -> dict[str, ProviderRecord]:
        return static_records(entries, self._catalog)

    # --- reading ------------------------------------------------------------------------

    async def get(self, provider_id: str) -> Provider | None:
        """The provider with this id (enabled or not), or None."""
        record = await self.record(provider_id)
        return record.provider if record else None

    async def all(self) -> list[Provider]:
        """Every provider: configured ones first, then runtime ones by creation time."""
        return [r.provider for r in await self.records()]

    async def record(self, provider_id: str) -> ProviderRecord | None:
        """The provider and its admin metadata, or None."""
        if provider_id in self._static:
            return self._static[provider_id]
        await self._refresh()
        return self._runtime.get(provider_id)

    async def records(self) -> list[ProviderRecord]:
        """Every provider with its admin metadata."""
        await self._refresh()
        runtime = sorted(self._runtime.values(), key=lambda r: r.created_at)
        return [*self._static.values(), *runtime]

    async def find(self, *, id: str | None, builtin_id: str | None) -> Provider:
        """Pick the provider an authorization asks for (docs/arcade-compatibility.md §2.1).

        Args:
            id: ``auth_requirement.id``: exactly that provider.
            builtin_id: ``auth_requirement.provider_id``: a configured id first,
                else the single enabled provider of that built-in type.

        Returns:
            An enabled provider.

        Raises:
            BadRequest: Neither was given, or several providers share the type.
            NotFound: No enabled provider matches.
        """
        if id:
            return self._enabled(await self.get(id), id)
        if not builtin_id:
            raise BadRequest("auth_requirement needs an id or a provider_id")
        direct = await self.get(builtin_id)
        if direct is not None and direct.enabled:
            return direct
        matches = [p for p in await self.all() if p.enabled and p.builtin_id == builtin_id]
        if len(matches) > 1:
            ids = ", ".join(sorted(p.id for p in matches))
            raise BadRequest(
                f"several auth providers of type {builtin_id!r} are enabled ({ids}): "
                "pass auth_requirement.id to choose one"
            )
        return self._enabled(matches[0] if matches else None, builtin_id)

    @staticmethod
    def _enabled(provider: Provider | None, name: str) -> Provider:
        if provider is None or not provider.enabled:
            raise NotFound(f"no enabled auth provider {name!r} is configured")
        return provider

    # --- writing (admin API) ------------------------------------------------------------

    async def put_runtime(
        self,
        entry: Mapping[str, Any],
        *,
        create: bool,
        replaces: str | None = None,
        external_id: str | None = None,
        allow_private_targets: bool = False,
    ) -> ProviderRecord:
        """Validate and persist a runtime provider.

        Args:
            entry: The provider entry (engine.yaml shape; client id/secret may sit in ``oauth2``).
            create: True to refuse an id that exists already.
            replaces: The current id when an update renames the provider.
            external_id: Stored and shown as given.
            allow_private_targets: Accept endpoints at loopback, private or link-local addresses.

        Returns:
            The stored record.

        Raises:
            BadRequest: The entry is invalid (names the key).
            TargetRefused: An endpoint the engine calls is at an address the policy refuses.
            Conflict: The id belongs to a configured provider, or exists when creating.
            NotFound: Updating a provider that does not exist.
        """
        raw = normalise_entry(entry, self._catalog)
        provider = self._validate(raw)
        if not allow_private_targets:
            check_called_endpoints(provider)
        new_id = provider.id
        old_id = replaces or new_id
        if new_id in self._static or old_id in self._static:
            raise Conflict(f"auth provider {new_id!r} is defined in engine.yaml; change it there")
        current = await self.record(old_id)
        if not create and current is None:
            raise NotFound(f"auth provider {old_id!r} does not exist")
        now = utcnow().isoformat()
        record = ProviderRecord(
            provider=provider,
            entry=raw,
            source="runtime",
            created_at=current.created_at if current and not create else now,
            updated_at=now,
            external_id=external_id if external_id is not None else getattr(current, "external_id", None),
        )
        await self._write(record, create=create or new_id != old_id, old_id=old_id)
        return record

    async def delete_runtime(self, provider_id: str) -> ProviderRecord | None:
        """Remove a runtime provider; returns it, or None when there was none.

        Raises:
            Conflict: The provider comes from engine.yaml.
        """
        if provider_id in self._static:
            raise Conflict(f"auth provider {provider_id!r} is defined in engine.yaml; remove it there")
        current = await self.record(provider_id)
        if current is None:
            return None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._key, provider_id)
            pipe.incr(self._version_key)
            await pipe.execute()
        self._invalidate()
        return current

    def _validate(self, raw: dict[str, Any]) -> Provider:
        try:
            return resolve(parse_entry(raw), self._catalog)
        except ConfigError as exc:
            raise BadRequest(f"invalid auth provider: {exc.message}") from None

    async def _write(self, record: ProviderRecord, *, create: bool, old_id: str) -> None:
        pid = record.provider.id
        blob = self._cipher.encrypt_json(
            {
                "entry": record.entry,
                "created_at": record.created_at,
                "updated_at": record.updated_at,
                "external_id": record.external_id,
            },
            aad=provider_aad(pid),
        )
        if create and not await self._redis.hsetnx(self._key, pid, blob):
            raise Conflict(f"auth provider {pid!r} already exists")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key, pid, blob)
            if old_id != pid:
                pipe.hdel(self._key, old_id)
            pipe.incr(self._version_key)
            await pipe.execute()
        self._invalidate()

    # --- cache --------------------------------------------------------------------------

    def _invalidate(self) -> None:
        self._version = None
        self._checked_at = float("-inf")

    async def _refresh(self) -> None:
        if self._clock() - self._checked_at < self._interval:
            return
        async with self._lock:
            if self._clock() - self._checked_at < self._interval:
                return
            version = await self._redis.get(self._version_key)
            if version is None or version != self._version:
                self._runtime = await self._load_runtime()
                self._version = version or b"0"
            self._checked_at = self._clock()

    async def _load_runtime(self) -> dict[str, ProviderRecord]:
        raw = await self._redis.hgetall(self._key)
        records: dict[str, ProviderRecord] = {}
        for key, blob in raw.items():
            pid = key.decode() if isinstance(key, bytes) else str(key)
            try:
                records[pid] = self._decode(pid, blob)
            except Exception as exc:  # one broken record must not hide the others
                log.warning("providers.record_unreadable", provider_id=pid, error=type(exc).__name__)
        return records

    def _decode(self, pid: str, blob: bytes | str) -> ProviderRecord:
        data = self._cipher.decrypt_json(blob, aad=provider_aad(pid))
        return ProviderRecord(
            provider=resolve(parse_entry(data["entry"]), self._catalog),
            entry=data["entry"],
            source="runtime",
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            external_id=data.get("external_id"),
        )

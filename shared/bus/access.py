"""How a service proves who it is to NATS, from its settings (docs/nats.md, "Credentials").

A user and password, or a ``.creds`` / nkey seed file (``VALETKEY_NATS_CREDS``), a CA bundle for
``tls://`` servers (``VALETKEY_NATS_CA``), and the service's own inbox prefix, which its user may
subscribe to and no other user may. Redis's side is ``shared.runtime.redisio.service_redis``.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from faststream.nats import NatsBroker
from faststream.nats.security import (
    NatsCredentials,
    NatsNKey,
    NatsSecurity,
    NatsUserPassword,
    parse_security,
)

from shared.bus.messaging import create_broker
from shared.bus.permissions import inbox_prefix
from shared.errors import ConfigError
from shared.runtime.settings import RuntimeSettings

JWT_MARKER = "BEGIN NATS USER JWT"


def _tls(ca_file: Path | None) -> ssl.SSLContext | None:
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot read the CA bundle {ca_file}: {exc}", key="VALETKEY_NATS_CA") from exc


def nats_security(runtime: RuntimeSettings) -> NatsSecurity | None:
    """FastStream's security object for this service's NATS user; None: no credentials, no CA.

    Raises:
        ConfigError: The creds file cannot be read or needs the ``nkeys`` package, or the CA is unusable.
    """
    tls = _tls(runtime.nats_ca)
    if runtime.nats_creds is not None:
        return _from_creds_file(runtime.nats_creds, tls)
    if runtime.nats_user:
        password = runtime.nats_password.get_secret_value() if runtime.nats_password else ""
        return NatsUserPassword(runtime.nats_user, password, ssl_context=tls)
    return NatsSecurity(ssl_context=tls) if tls is not None else None


def _from_creds_file(path: Path, tls: ssl.SSLContext | None) -> NatsSecurity:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", key="VALETKEY_NATS_CREDS") from exc
    try:
        if JWT_MARKER in text:
            return NatsCredentials.from_file(path, ssl_context=tls)
        return NatsNKey.from_file(path, ssl_context=tls)
    except ImportError as exc:
        raise ConfigError("VALETKEY_NATS_CREDS needs the nkeys package", key="VALETKEY_NATS_CREDS") from exc


def nats_connect_options(runtime: RuntimeSettings, *, service: str) -> dict[str, Any]:
    """Keyword arguments for ``nats.connect`` (tools that talk to NATS without FastStream)."""
    security = nats_security(runtime)
    options = {k: v for k, v in parse_security(security).items() if v is not None}
    return {**options, "inbox_prefix": inbox_prefix(service)}


def service_broker(runtime: RuntimeSettings, *, service: str) -> NatsBroker:
    """The broker of ``service`` (not connected yet), as its own NATS user."""
    return create_broker(
        runtime.nats_servers,
        name=service,
        graceful_timeout=runtime.graceful_timeout,
        security=nats_security(runtime),
        inbox_prefix=inbox_prefix(service),
    )

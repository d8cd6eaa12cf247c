"""Signed, expiring values for the console's session cookie and the end-user links.

The signing key is derived from the engine's API keys (HMAC-SHA256 over their digests), so
no new secret has to be set, every gateway replica holding the same keys accepts what another
signed, and changing the keys ends every session and link. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.errors import Unauthorized

SESSION_SECONDS = 8 * 3600


class Expired(Unauthorized):
    """A signed value whose time is up (its signature was good)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_digest(key: str) -> str:
    """What a session remembers of the API key it was opened with (never the key)."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class Signer:
    """HMAC-SHA256 over a JSON payload with an ``exp`` (epoch seconds); ``purpose`` separates uses."""

    def __init__(self, api_keys: Iterable[str]) -> None:
        digests = sorted(hashlib.sha256(k.encode()).digest() for k in api_keys if k)
        self._key = hmac.new(b"valetkey console signing v1", b"".join(digests), hashlib.sha256).digest()

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}\x00{body}".encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, payload: dict[str, Any], ttl: float, *, now: float | None = None) -> str:
        exp = int((time.time() if now is None else now) + ttl)
        body = _b64(json.dumps({**payload, "exp": exp}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def verify(self, purpose: str, token: str | None, *, now: float | None = None) -> dict[str, Any]:
        """The payload of a token this signer made for ``purpose``.

        Raises:
            Unauthorized: Missing, malformed or forged.
            Expired: Genuine, but past its ``exp``.
        """
        body, _, mac = (token or "").partition(".")
        if not body or not hmac.compare_digest(mac, self._mac(purpose, body)):
            raise Unauthorized("not signed by this engine")
        payload: dict[str, Any] = json.loads(_unb64(body))
        if payload.get("exp", 0) <= (time.time() if now is None else now):
            raise Expired("this link or session has expired")
        return payload


@dataclass(frozen=True)
class Session:
    """A signed-in operator: the project of the admin key, a digest of the key, the CSRF token."""

    project: str
    key: str
    csrf: str
    exp: int

    @classmethod
    def open(cls, project: str, key: str) -> Session:
        return cls(project=project, key=key_digest(key), csrf=secrets.token_urlsafe(24), exp=0)

    def payload(self) -> dict[str, Any]:
        return {"p": self.project, "k": self.key, "c": self.csrf}

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Session:
        return cls(project=payload["p"], key=payload["k"], csrf=payload["c"], exp=int(payload["exp"]))

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), (sent or "").encode())


@dataclass(frozen=True)
class UserLink:
    """What an end-user link allows: one user of one project, some providers (None: any)."""

    project: str
    user_id: str
    providers: tuple[str, ...] | None
    exp: int

    def payload(self) -> dict[str, Any]:
        return {"p": self.project, "u": self.user_id, "a": list(self.providers) if self.providers else None}

    @classmethod
    def of(cls, payload: dict[str, Any]) -> UserLink:
        allowed = payload.get("a")
        return cls(payload["p"], payload["u"], tuple(allowed) if allowed else None, int(payload["exp"]))

    def allows(self, provider_id: str) -> bool:
        return self.providers is None or provider_id in self.providers

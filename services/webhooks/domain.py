"""Pure webhook decisions: signing, target checks, backoff, payload shape. No I/O here.

Signing follows Standard Webhooks (standardwebhooks.com), so receivers can verify with any
of its libraries: ``webhook-id`` (the event id, stable across retries, the dedupe key),
``webhook-timestamp`` (seconds, per attempt) and ``webhook-signature``, a space-separated
list of ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per live secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from shared.contracts.common import DEFAULT_PROJECT
from shared.contracts.events import EVENT_TYPES
from shared.errors import BadRequest, ConfigError, InvalidWebhookTarget
from shared.runtime.addresses import first_refused
from shared.runtime.config import WebhooksConfig

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ALL_EVENTS = "*"
# A webhook URL valetkey refuses to call; its code reaches the gateway's 400 unchanged.
InvalidTarget = InvalidWebhookTarget

# The only event fields a receiver gets: a new field on an event reaches webhooks
# only when added here, so a token can never slip out by a contract change.
PAYLOAD_FIELDS = (
    "user_id",
    "provider_id",
    "authorization_id",
    "execution_id",
    "connection_id",
    "tool_name",
    "status",
    "success",
    "reason",
    "scopes",
    "expires_at",
    "provider_revocation",
    "provider_revocation_reason",
)


# --- endpoints and deliveries ----------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One webhook endpoint, with its live signing keys (never serialised to a client)."""

    id: str
    url: str
    events: list[str]
    enabled: bool
    source: str  # "config" or "api"
    keys: tuple[bytes, ...] = field(repr=False)
    description: str = ""
    created_at: float | None = None
    updated_at: float | None = None
    # Whose events it receives and who manages it; engine.yaml's belong to the default project.
    project: str = DEFAULT_PROJECT

    def public(self) -> dict[str, Any]:
        """The API view: everything but the secrets."""
        return {
            "id": self.id,
            "url": self.url,
            "events": self.events,
            "enabled": self.enabled,
            "source": self.source,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def config_endpoints(config: WebhooksConfig) -> list[Endpoint]:
    """Endpoints declared in ``engine.yaml``; each needs a ``whsec_`` secret.

    Raises:
        ConfigError: A missing or malformed secret, an unusable URL or an unknown event type.
    """
    endpoints = []
    for index, entry in enumerate(config.endpoints):
        where = f"webhooks.endpoints[{index}]"
        secret = entry.secret.get_secret_value() if entry.secret else ""
        try:
            parse_target(entry.url)
            events = check_event_types(entry.events)
            key = secret_key(secret)
        except Exception as exc:
            raise ConfigError(str(exc), key=where) from exc
        endpoints.append(Endpoint(entry.id, entry.url, events, entry.enabled, "config", (key,)))
    return endpoints


@dataclass(frozen=True)
class Delivery:
    """One event for one endpoint: the body is fixed at fan-out, signatures are made per attempt.

    A delivery queued after the fan-out's first attempt failed carries that attempt
    (``tried``), when it was made (the retry window counts from then) and when to retry.
    """

    endpoint_id: str
    event_id: str
    event_type: str
    body: str
    tried: int = 0
    first_tried_at: float | None = None
    retry_at: float = 0.0

    @property
    def queue_id(self) -> str:
        """``Nats-Msg-Id``: a fan-out that is redelivered mid-way does not queue it twice."""
        return f"{self.event_id}:{self.endpoint_id}"

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, data: bytes) -> Delivery:
        raw = json.loads(data)
        return cls(
            raw["endpoint_id"],
            raw["event_id"],
            raw["event_type"],
            raw["body"],
            tried=int(raw.get("tried", 0)),
            first_tried_at=raw.get("first_tried_at"),
            retry_at=float(raw.get("retry_at", 0.0)),
        )


# --- secrets and signatures -------------------------------------------------------------


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form ``whsec_<base64>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret.

    Raises:
        BadRequest: Not ``whsec_`` followed by base64 of at least 24 bytes.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise BadRequest("a webhook secret must look like whsec_<base64>")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("a webhook secret must look like whsec_<base64>") from exc
    if len(key) < 24:
        raise BadRequest("a webhook secret must hold at least 24 random bytes")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``{msg_id}.{timestamp}.{body}``."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per key (old and new during a rotation)."""
    signature = " ".join(sign(key, msg_id, timestamp, body) for key in keys)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


# --- targets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart for a pinned connection."""

    scheme: str
    host: str
    port: int
    path: str

    def url_for(self, address: str | None = None) -> str:
        """The URL to request, with ``address`` in place of the host name when pinning."""
        host = address or self.host
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise InvalidTarget(f"not a valid URL: {exc}") from exc
    return parts


def parse_target(url: str) -> Target:
    """Check the shape of a webhook URL: http(s), a host, no credentials.

    Raises:
        InvalidTarget: Any other scheme, no host, or user info in the URL.
    """
    parts = _split(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidTarget("a webhook URL must use http or https")
    if not parts.hostname:
        raise InvalidTarget("a webhook URL needs a host")
    if parts.username or parts.password:
        raise InvalidTarget("a webhook URL must not carry credentials; requests are signed instead")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Target(scheme=parts.scheme, host=parts.hostname, port=port, path=path)


def check_addresses(host: str, addresses: Iterable[str], *, allow_private: bool) -> str:
    """Every address ``host`` resolved to must be public; returns the one to connect to.

    Checking every address (not just the first) matters: a name with one public and one
    private record would otherwise reach the private one on a later connection.

    Raises:
        InvalidTarget: No address, or a refused one.
    """
    listed = [a.split("%", 1)[0] for a in addresses]
    if not listed:
        raise InvalidTarget(f"{host} does not resolve")
    refused = first_refused(listed)
    if refused is not None and not allow_private:
        raise InvalidTarget(
            f"{host} resolves to a loopback, private or link-local address ({refused}); "
            "set webhooks.allow_private_targets to allow it"
        )
    return listed[0]


# --- retries ----------------------------------------------------------------------------


def backoff_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Seconds before retry number ``attempt`` (1-based): exponential, capped, with jitter.

    The delay is drawn from [d/2, d] for d = min(cap, base * 2^(attempt-1)): half of it
    spreads retries of a burst apart, the other half keeps the growth predictable.
    """
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 32))
    return ceiling / 2 + rand() * ceiling / 2


@dataclass(frozen=True)
class Retry:
    delay: float


@dataclass(frozen=True)
class GiveUp:
    """Dead-letter the delivery: the retry window is spent."""


def after_failure(
    attempt: int,
    elapsed: float,
    *,
    window: float,
    base: float,
    cap: float,
    rand: Callable[[], float],
    retry_after: float | None = None,
) -> Retry | GiveUp:
    """Retry after a backoff, or give up when the next attempt would fall outside the window.

    ``retry_after`` (the receiver's ``Retry-After``) can only make the wait longer: a
    receiver may slow its retries down, never speed them past the backoff.
    """
    delay = backoff_delay(attempt, base=base, cap=cap, rand=rand)
    if retry_after is not None:
        delay = max(delay, retry_after)
    if elapsed + delay > window:
        return GiveUp()
    return Retry(delay)


def is_success(status: int) -> bool:
    """Only a 2xx counts; a 3xx is a failure because redirects are never followed."""
    return 200 <= status < 300


# --- subscriptions and payloads ---------------------------------------------------------


def check_event_types(events: list[str]) -> list[str]:
    """Validate a subscription list: known event types or ``*``.

    Raises:
        BadRequest: Empty, or naming an unknown type.
    """
    if not events:
        raise BadRequest("subscribe to at least one event type (or '*')")
    unknown = [e for e in events if e != ALL_EVENTS and e not in EVENT_TYPES]
    if unknown:
        known = ", ".join(sorted(EVENT_TYPES))
        raise BadRequest(f"unknown event type {unknown[0]!r}; known types: {known}, or '*'")
    return sorted(set(events))


def subscribes(events: Iterable[str], event_type: str) -> bool:
    return any(e in (ALL_EVENTS, event_type) for e in events)


def shape_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """The body receivers get: id, type, time and the whitelisted facts, never a token."""
    data = {k: event[k] for k in PAYLOAD_FIELDS if event.get(k) is not None}
    return {
        "id": event["event_id"],
        "type": event["type"],
        "timestamp": event["occurred_at"],
        "data": data,
    }


def delivery_key(event_id: str, endpoint_id: str) -> str:
    """A stable id for one event going to one endpoint (the dead letter's id and dedupe key)."""
    return "dl_" + hashlib.sha256(f"{event_id}\n{endpoint_id}".encode()).hexdigest()[:24]

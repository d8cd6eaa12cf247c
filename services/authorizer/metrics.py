"""The authorizer's Prometheus metrics (names as deploy/README.md lists them), and the DEBUG line
that gives a callback's provider times one by one."""

from __future__ import annotations

import re

from prometheus_client import Counter, Histogram

from shared.runtime.logging import get_logger

log = get_logger(__name__)

STARTED = Counter(
    "valetkey_authorizations_started", "Authorizations started (not completed at once)", ["provider"]
)
COMPLETED = Counter("valetkey_authorizations_completed", "Authorizations completed", ["provider"])
FAILED = Counter(
    "valetkey_authorizations_failed", "Authorizations failed, by error code", ["provider", "reason"]
)
COMPLETION = Histogram(
    "valetkey_authorization_completion_seconds",
    "Time from an authorization's start to its completion (the user's consent included)",
    ["provider"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
PROVIDER_CALL = Histogram(
    "valetkey_authorization_provider_call_seconds",
    "A callback's calls to its provider (token: the code exchange, user_info), on the wire: "
    "from the request's headers sent to the answer's last byte",
    ["provider", "call"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def reason_label(reason: str) -> str:
    """An error code as a label; anything else a provider sent counts as ``other``."""
    return reason if _CODE.fullmatch(reason) else "other"


def provider_timed(authorization_id: str, provider_id: str, upstream: dict[str, float]) -> None:
    """A callback's code exchange and user info at its provider, on the wire (the network and
    the provider): observed, and at DEBUG one line per callback (``bench completion`` reads it)."""
    for call, seconds in upstream.items():
        PROVIDER_CALL.labels(provider_id, call).observe(seconds)
    log.debug(
        "authorization.provider_timed",
        authorization_id=authorization_id,
        provider_id=provider_id,
        exchange_ms=_ms(upstream.get("token")),
        user_info_ms=_ms(upstream.get("user_info")),
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)

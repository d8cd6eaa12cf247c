"""The authorizer's Prometheus metrics (names as deploy/README.md lists them)."""

from __future__ import annotations

import re

from prometheus_client import Counter, Histogram

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

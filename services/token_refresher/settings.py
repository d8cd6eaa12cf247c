"""Refresher settings: ``engine.yaml`` ``refresh:`` plus tuning knobs from the environment.

The margin, lifetime fraction and ``max_attempts`` are engine behaviour and live in
``engine.yaml``. Concurrency, leases and timeouts are deployment tuning, read from
``VALETKEY_REFRESHER_<NAME>`` variables (e.g. ``VALETKEY_REFRESHER_CONCURRENCY=128``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from shared.errors import ConfigError
from shared.runtime.settings import Settings

ENV_PREFIX = "VALETKEY_REFRESHER_"


@dataclass(frozen=True)
class RefresherSettings:
    """How the refresher runs.

    Attributes:
        max_attempts: Consecutive failures after which a ``token.refresh_failed`` event
            (status ``retrying``) is published and retries settle at ``retry_cap``.
        concurrency: Scheduled refreshes in flight per replica.
        rpc_workers: On-demand requests handled concurrently per replica. Callers waiting on
            a single-flight hold no Redis connection, but concurrency + rpc_workers should stay
            below the Redis pool size (100 in ``shared.runtime.redisio``): redis-py raises, not waits.
        lease_seconds: How long a claimed schedule entry stays hidden from other replicas
            unless renewed; a crashed replica's claims come back after it. Renewed while the
            refresh runs (``leases.Leases``), so it can be short.
        poll_seconds: Longest sleep of the schedule loop when nothing is due.
        lock_ttl_seconds: Expiry of the per-connection refresh lock unless renewed (renewed
            while held, like the lease): how long a killed holder keeps others waiting.
        lock_wait_seconds: How long a caller waits for another replica's refresh.
        http_timeout_seconds: One token-endpoint call.
        inline_budget_seconds: Time for quick retries inside one refresh (below the RPC timeout).
        inline_attempts: Calls per refresh before a transient failure is reported.
        inline_base_seconds: First quick-retry backoff.
        retry_base_seconds: First scheduled-retry backoff after a failed refresh.
        retry_cap_seconds: Longest scheduled-retry backoff.
        relay_wake_seconds: How long after a write the outbox relay is woken; the writes in
            between share one wake, so one drain carries their events together.
    """

    max_attempts: int = 8
    concurrency: int = 16
    rpc_workers: int = 64
    lease_seconds: float = 5.0
    poll_seconds: float = 1.0
    lock_ttl_seconds: float = 5.0
    lock_wait_seconds: float = 15.0
    http_timeout_seconds: float = 5.0
    inline_budget_seconds: float = 8.0
    inline_attempts: int = 3
    inline_base_seconds: float = 0.25
    retry_base_seconds: float = 5.0
    retry_cap_seconds: float = 900.0
    relay_wake_seconds: float = 0.05

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> RefresherSettings:
        """Build from the engine config and ``VALETKEY_REFRESHER_*`` variables.

        Raises:
            ConfigError: A variable is not a number, or a refresh could outlive its lock.
        """
        base = cls(max_attempts=settings.engine.refresh.max_attempts)
        source = os.environ if env is None else env
        overrides: dict[str, Any] = {}
        for field in fields(cls):
            raw = source.get(ENV_PREFIX + field.name.upper())
            if raw is None:
                continue
            try:
                overrides[field.name] = int(raw) if field.type == "int" else float(raw)
            except ValueError as exc:
                raise ConfigError(f"not a number: {raw!r}", key=ENV_PREFIX + field.name.upper()) from exc
        return replace(base, **overrides).checked()

    def checked(self) -> RefresherSettings:
        """Refuse combinations that cannot work."""
        if min(self.lock_ttl_seconds, self.lease_seconds) < 1:
            raise ConfigError(
                "lock_ttl_seconds and lease_seconds must be >= 1 (renewed every third of the shorter)",
                key=ENV_PREFIX + "LOCK_TTL_SECONDS",
            )
        if self.concurrency < 1 or self.rpc_workers < 1 or self.inline_attempts < 1:
            raise ConfigError("concurrency, rpc_workers and inline_attempts must be >= 1", key=ENV_PREFIX)
        return self

    @property
    def refresh_deadline_seconds(self) -> float:
        """Hard limit on one refresh under the lock: token calls, one user-info call, the writes."""
        return self.inline_budget_seconds + 2 * self.http_timeout_seconds + 2

    @property
    def renew_seconds(self) -> float:
        """How often held locks and running claims are renewed: a third of the shorter expiry."""
        return min(self.lock_ttl_seconds, self.lease_seconds) / 3

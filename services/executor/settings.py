"""Executor settings, taken from the shared settings once at start."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.executor.worker_registry import WorkerSpec, configured_workers
from shared.runtime.config_tools import ExecutionLoggingConfig, ScheduledConfig, ToolsConfig
from shared.runtime.settings import Settings
from shared.tokens.model import RefreshPolicy

#: A scheduled run's claim outlasts the longest run by this much (docs/scheduled-executions.md).
SCHEDULED_LEASE_MARGIN_SECONDS = 30.0
#: Remote catalogs are fetched again this often, so a worker redeployed with new tools shows them.
CATALOG_REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class ExecutorSettings:
    """What the executor needs to know about the deployment.

    Attributes:
        key_prefix: Redis key prefix.
        toolkits: In-process toolkits (Python packages) to import at start.
        timeout_seconds: Longest an in-process tool may run.
        workers: The remote workers configured in engine.yaml.
        secrets: Tool secrets configured in engine.yaml, in clear.
        refresh_policy: When a token is due for refresh (``fresh_token`` asks the refresher then).
        catalog_refresh_seconds: How often remote catalogs are fetched again.
        scheduled: ``tools.scheduled``.
        execution_logging: ``execution_logging``.
        lease_seconds: How long a scheduled run's claim holds: the longest run, plus a margin.
        token_cache_seconds: How long a token record read for a tool is reused
            (``VALETKEY_ANSWER_CACHE_SECONDS``; 0: every call reads Redis; shared/tokens/cached.py).
        token_cache_entries: The most records kept (``VALETKEY_ANSWER_CACHE_ENTRIES``).
    """

    key_prefix: str
    toolkits: list[str]
    timeout_seconds: float
    workers: list[WorkerSpec]
    secrets: dict[str, str] = field(repr=False)
    refresh_policy: RefreshPolicy
    scheduled: ScheduledConfig
    execution_logging: ExecutionLoggingConfig
    lease_seconds: float
    token_cache_seconds: float = 0.0
    token_cache_entries: int = 10_000
    catalog_refresh_seconds: float = CATALOG_REFRESH_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> ExecutorSettings:
        tools = settings.engine.tools
        return cls(
            key_prefix=settings.runtime.key_prefix,
            toolkits=list(tools.toolkits),
            timeout_seconds=tools.timeout_seconds,
            workers=configured_workers(tools),
            secrets={key: value.get_secret_value() for key, value in tools.secrets.items()},
            refresh_policy=settings.refresh_policy(),
            scheduled=tools.scheduled,
            execution_logging=settings.engine.execution_logging,
            lease_seconds=_longest_run(tools) + SCHEDULED_LEASE_MARGIN_SECONDS,
            token_cache_seconds=settings.runtime.answer_cache_seconds,
            token_cache_entries=settings.runtime.answer_cache_entries,
        )


def _longest_run(tools: ToolsConfig) -> float:
    """The longest a tool may run: the in-process timeout, or a worker's timeout over its tries."""
    connections = [w.http or w.mcp for d in tools.directors for w in d.workers]
    workers = [c.timeout * (1 + c.retry) for c in connections if c is not None]
    return max([tools.timeout_seconds, *workers])

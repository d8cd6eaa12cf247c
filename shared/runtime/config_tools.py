"""``engine.yaml`` ``tools``: toolkits, directors and their workers, scheduled runs, and
``execution_logging`` (docs/config.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared.runtime.config_base import HttpUrlText, Section

#: A worker secret signs the JWT of every call, tokens included: as long as a root key.
MIN_WORKER_SECRET = 32


class WorkerHttpConfig(Section):
    uri: HttpUrlText
    secret: SecretStr | None = None
    timeout: float = Field(default=30, gt=0)
    retry: int = Field(default=3, ge=0, le=10)


#: An MCP worker's toolkit name: what its tools are called under (``Toolkit.tool``).
MCP_TOOLKIT_PATTERN = r"^[A-Za-z][A-Za-z0-9]{0,63}$"


class WorkerMcpConfig(Section):
    """A remote MCP server over Streamable HTTP (docs/mcp.md, "MCP servers as workers")."""

    uri: HttpUrlText
    # The name its tools join the catalog under; by default the worker id in PascalCase.
    toolkit: str | None = Field(default=None, pattern=MCP_TOOLKIT_PATTERN)
    headers: dict[str, str] = Field(default_factory=dict)
    # Headers whose values are secret (an Authorization header, an API key): never shown nor logged.
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: float = Field(default=30, gt=0)
    retry: int = Field(default=3, ge=0, le=10)


class WorkerGrantsConfig(Section):
    """What a worker's tools may ask for (services/executor/grants.py); absent: pinned at first listing."""

    secrets: list[str] = Field(default_factory=list)
    providers: list[str] = Field(default_factory=list)


class WorkerConfig(Section):
    id: str = Field(min_length=1)
    enabled: bool = True
    type: Literal["http", "mcp"] | None = None
    http: WorkerHttpConfig | None = None
    mcp: WorkerMcpConfig | None = None
    grants: WorkerGrantsConfig | None = None

    @model_validator(mode="after")
    def _one_connection(self) -> WorkerConfig:
        """An ``http`` block or an ``mcp`` block, whichever ``type`` names (when given)."""
        kind = self.type or ("mcp" if self.mcp is not None and self.http is None else "http")
        if (kind == "http") != (self.http is not None) or (kind == "mcp") != (self.mcp is not None):
            raise ValueError(f"a worker of type {kind} needs its {kind} block, and only that one")
        self.type = kind
        return self


class DirectorConfig(Section):
    id: str = Field(min_length=1)
    enabled: bool = True
    max_tools: int = 64
    workers: list[WorkerConfig] = Field(default_factory=list)


class ScheduledConfig(Section):
    """Scheduled executions (``run_at``; docs/scheduled-executions.md)."""

    horizon_days: float = Field(default=30, gt=0, le=366)  # a later run_at is a 400
    poll_seconds: float = Field(default=0.2, gt=0, le=60)  # how often each executor looks for due runs
    concurrency: int = Field(default=32, ge=1, le=1024)  # scheduled runs one executor runs at once


class ToolsConfig(Section):
    directors: list[DirectorConfig] = Field(default_factory=list)
    toolkits: list[str] = Field(default_factory=list)
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=30, gt=0)
    scheduled: ScheduledConfig = Field(default_factory=ScheduledConfig)


class ExecutionLoggingConfig(Section):
    """The execution history (docs/scheduled-executions.md): what each execution leaves behind.

    ``enabled`` records immediate executions (scheduled ones are always recorded: their result is
    read there); their inputs and outputs only with ``include_inputs``/``include_outputs``,
    redacted, and an output over ``max_output_size`` bytes is replaced by a note. Records are
    kept ``retention_days`` after they finish.
    """

    enabled: bool = True
    include_inputs: bool = False
    include_outputs: bool = False
    max_output_size: int = Field(default=10_485_760, ge=0)
    retention_days: float = Field(default=7, gt=0, le=366)


def worker_problem(http: WorkerHttpConfig, *, allow_http: bool) -> str | None:
    """What is wrong with a worker's connection settings outside development, or None."""
    secret = http.secret.get_secret_value() if http.secret else ""
    if len(secret) < MIN_WORKER_SECRET:
        return f"secret: at least {MIN_WORKER_SECRET} characters outside development"
    if http.uri.startswith("http://") and not allow_http:
        return "uri: plain http:// needs security.allow_private_targets (or api.development)"
    return None

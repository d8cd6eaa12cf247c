"""What a remote worker is: its spec, its ``WorkerResponse`` view, and the request bodies that describe it.

Two kinds, as Arcade has them: ``http`` (an arcade-serve worker: ``/worker/tools``, a shared secret that
signs a JWT per call) and ``mcp`` (a remote MCP server over Streamable HTTP: its own ``headers``, and
``secrets`` that are headers too but sealed, never answered and never logged).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.executor.grants import Grants
from shared.errors import BadRequest
from shared.runtime.config_tools import MCP_TOOLKIT_PATTERN, MIN_WORKER_SECRET

STATIC_BINDING = {"type": "static", "id": "engine.yaml"}
PROJECT_BINDING = {"type": "project", "id": "default"}


@dataclass(frozen=True)
class WorkerSpec:
    """Everything needed to reach one worker."""

    id: str
    uri: str
    secret: str
    timeout: float
    retry: int
    enabled: bool = True
    static: bool = False
    created_at: str | None = None
    # The project that registered it (its tools serve only that project); None for engine.yaml's.
    project: str | None = None
    type: str = "http"
    # MCP workers: the toolkit their tools are named under, plain headers, and secret headers.
    toolkit: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    secret_headers: dict[str, str] = field(default_factory=dict)
    # What its tools may ask for (services/executor/grants.py): written by an operator (engine.yaml,
    # the admin API) or, when nobody did, pinned at its first listing; None until then.
    grants: Grants | None = None
    pinned: Grants | None = None
    # engine.yaml's director of the worker and its max_tools: the tool names all of the director's
    # workers may serve together, in configuration order (API workers have none).
    director: str | None = None
    director_max_tools: int | None = None

    @property
    def granted(self) -> Grants | None:
        """The grants in force: the written ones, else the pinned ones."""
        return self.grants if self.grants is not None else self.pinned

    def serves(self, project: str) -> bool:
        """Whether this worker's tools (and the worker itself) are the project's to use."""
        return self.project is None or self.project == project

    def view(self) -> dict[str, Any]:
        """Arcade's ``WorkerResponse``; secrets are ``SecretView``s that never carry the value."""
        binding = STATIC_BINDING if self.static else PROJECT_BINDING
        view: dict[str, Any] = {
            "id": self.id,
            "enabled": self.enabled,
            "type": self.type,
            "managed": False,
            "binding": dict(binding),
            "requirements": {"met": True, "authorization": None},
            "grants": self._grants_view(),
        }
        common = {"uri": self.uri, "timeout": round(self.timeout), "retry": self.retry}
        if self.type == "mcp":
            secrets = {name: _secret_view(binding, self.static, True) for name in self.secret_headers}
            headers = dict(self.headers)
            view["mcp"] = common | {"toolkit": self.toolkit, "headers": headers, "secrets": secrets}
        else:
            view["http"] = common | {"secret": _secret_view(binding, self.static, bool(self.secret))}
        return view

    def _grants_view(self) -> dict[str, Any] | None:
        """What its tools may ask for, and whether that was pinned at its first listing."""
        granted = self.granted
        return None if granted is None else granted.to_json() | {"pinned": self.grants is None}


def _secret_view(binding: dict[str, str], static: bool, exists: bool) -> dict[str, Any]:
    """A ``SecretView``: its binding is the type alone."""
    return {"binding": binding["type"], "editable": not static, "exists": exists, "hint": "", "value": ""}


def toolkit_of(worker_id: str, toolkit: str | None = None) -> str:
    """An MCP worker's toolkit name: the configured one, else its id in PascalCase (``fast-notes`` ->
    ``FastNotes``), so that ``Toolkit_tool`` splits where the toolkit ends."""
    if toolkit:
        return toolkit
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", worker_id) if part)
    return name if name[:1].isalpha() else f"Mcp{name}"


_URI = Field(min_length=1, pattern=r"^https?://")
HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", max_length=128)]


class _Http(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uri: str = _URI
    secret: str = Field(min_length=MIN_WORKER_SECRET)
    timeout: float = Field(gt=0)
    retry: int = Field(ge=0, le=10)


class _HttpPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uri: str | None = Field(default=None, min_length=1, pattern=r"^https?://")
    secret: str | None = Field(default=None, min_length=MIN_WORKER_SECRET)
    timeout: float | None = Field(default=None, gt=0)
    retry: int | None = Field(default=None, ge=0, le=10)


class _Mcp(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uri: str = _URI
    timeout: float = Field(gt=0)
    retry: int = Field(ge=0, le=10)
    toolkit: str | None = Field(default=None, pattern=MCP_TOOLKIT_PATTERN)
    headers: dict[HeaderName, str] = Field(default_factory=dict, max_length=32)
    secrets: dict[HeaderName, str] = Field(default_factory=dict, max_length=32)


class _McpPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uri: str | None = Field(default=None, min_length=1, pattern=r"^https?://")
    timeout: float | None = Field(default=None, gt=0)
    retry: int | None = Field(default=None, ge=0, le=10)
    toolkit: str | None = Field(default=None, pattern=MCP_TOOLKIT_PATTERN)
    headers: dict[HeaderName, str] | None = Field(default=None, max_length=32)
    secrets: dict[HeaderName, str] | None = Field(default=None, max_length=32)


GrantName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Grants(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secrets: list[GrantName] = Field(default_factory=list, max_length=128)
    providers: list[GrantName] = Field(default_factory=list, max_length=128)

    def grants(self) -> Grants:
        return Grants.of(self.secrets, self.providers)


class CreateBody(BaseModel):
    """``POST /v1/workers``."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    enabled: bool | None = None
    type: str | None = None
    http: _Http | None = None
    mcp: _Mcp | None = None
    grants: _Grants | None = None


class UpdateBody(BaseModel):
    """``PATCH /v1/workers/{id}``."""

    model_config = ConfigDict(extra="ignore")
    enabled: bool | None = None
    http: _HttpPatch | None = None
    mcp: _McpPatch | None = None
    grants: _Grants | None = None


def parse_body(model: type[BaseModel], body: dict[str, Any]) -> Any:
    """Validate a request body, naming the first field at fault.

    Raises:
        BadRequest: Invalid body, or a type other than ``http`` and ``mcp``.
    """
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"failed to validate request body: {where}: {first['msg']}") from exc
    if getattr(parsed, "type", None) not in (None, "http", "mcp"):
        raise BadRequest("failed to validate request body: type: a worker's type is http or mcp")
    return parsed


def spec_of(parsed: CreateBody, **common: Any) -> WorkerSpec:
    """The worker a valid create body describes; ``common`` holds enabled, created_at and project.

    Raises:
        BadRequest: The block its type needs is missing, or both are given.
    """
    kind = parsed.type or ("mcp" if parsed.mcp is not None and parsed.http is None else "http")
    common["grants"] = None if parsed.grants is None else parsed.grants.grants()
    if kind == "mcp" and parsed.mcp is not None and parsed.http is None:
        mcp = parsed.mcp
        return WorkerSpec(
            id=parsed.id,
            uri=mcp.uri,
            secret="",
            timeout=mcp.timeout,
            retry=mcp.retry,
            type="mcp",
            toolkit=toolkit_of(parsed.id, mcp.toolkit),
            headers=dict(mcp.headers),
            secret_headers=dict(mcp.secrets),
            **common,
        )
    if kind == "http" and parsed.http is not None and parsed.mcp is None:
        http = parsed.http
        return WorkerSpec(
            id=parsed.id, uri=http.uri, secret=http.secret, timeout=http.timeout, retry=http.retry, **common
        )
    needs = "uri, timeout, retry" if kind == "mcp" else "uri, secret, timeout, retry"
    raise BadRequest(
        f"failed to validate request body: {kind}: a worker of type {kind} needs its {kind} block "
        f"({needs}) and no other"
    )


def changes_of(current: WorkerSpec, parsed: UpdateBody) -> dict[str, Any]:
    """The fields a valid update body changes on ``current``.

    Raises:
        BadRequest: The body changes the other type's block.
    """
    changes: dict[str, Any] = {} if parsed.enabled is None else {"enabled": parsed.enabled}
    block, other = (parsed.mcp, parsed.http) if current.type == "mcp" else (parsed.http, parsed.mcp)
    if other is not None:
        raise BadRequest(f"failed to validate request body: worker {current.id} is of type {current.type}")
    if block is not None:
        changes |= block.model_dump(exclude_none=True)
    if parsed.grants is not None:  # written grants replace the pinned ones
        changes |= {"grants": parsed.grants.grants(), "pinned": None}
    if "secrets" in changes:
        changes["secret_headers"] = changes.pop("secrets")
    if "toolkit" in changes:
        changes["toolkit"] = toolkit_of(current.id, changes["toolkit"])
    return changes


#: The id a worker under test is checked with; it is never saved.
TEST_WORKER_ID = "worker-test"
TEST_TIMEOUT_SECONDS = 10.0


def worker_under_test(body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Arcade's ``WorkerTestRequest`` (``{type, http: {uri}, mcp: {uri}}``) as a create body, and
    whether it carries a secret to check. Arcade's test sends no secret: without one, an HTTP
    worker is checked for reachability (``/worker/health`` takes no token); with ``http.secret``
    (valetkey's own field), its tool list too, as a save would.

    Raises:
        BadRequest: No ``type``, or none of ``http`` and ``mcp``, or no ``uri`` in it.
    """
    kind = body.get("type")
    if kind not in ("http", "mcp"):
        raise BadRequest("failed to validate request body: type: a worker's type is http or mcp")
    block = body.get(kind)
    if not isinstance(block, dict) or not isinstance(block.get("uri"), str):
        raise BadRequest(f"failed to validate request body: {kind}.uri is required")
    common = {"uri": block["uri"], "timeout": TEST_TIMEOUT_SECONDS, "retry": 0}
    if kind == "mcp":
        extra = {k: block[k] for k in ("headers", "secrets", "toolkit") if k in block}
        return {"id": TEST_WORKER_ID, "type": "mcp", "mcp": common | extra}, True
    secret = block.get("secret")
    checked = isinstance(secret, str) and bool(secret)
    placeholder = "-" * MIN_WORKER_SECRET  # only /worker/health is called without a secret
    http = common | {"secret": secret if checked else placeholder}
    return {"id": TEST_WORKER_ID, "type": "http", "http": http}, checked

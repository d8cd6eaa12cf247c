"""Running one tool for one user: requirements, token, secrets, the call, Arcade's execute response.

The order is Arcade's (docs/arcade-compatibility.md §3.2): resolve the name, then authorization (a missing
or narrower token starts an authorization and answers 403 with its URL), then secrets,
then the call. A tool's failure is an answer with ``success: false``; nothing a tool does
raises out of here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arcade_core.errors import ErrorKind

from services.executor.catalog import ToolCatalog
from services.executor.definitions import public_output
from services.executor.requirements import Providers, requirement_of, scopes_of
from services.executor.responses import failed_response
from services.executor.secret_store import SecretStore
from services.executor.sources import ToolSource
from shared import subjects
from shared.contracts.authorization import Authorization, StartAuthorization
from shared.contracts.common import new_id, utcnow
from shared.contracts.events import ToolExecutionCompleted
from shared.contracts.execution import ExecuteTool, ExecutionReply
from shared.errors import BadRequest, ToolRequirementsNotMet, ValetkeyError
from shared.freshness import fresh_token
from shared.logging import get_logger
from shared.messaging import RpcClient
from shared.tokens import RefreshPolicy, covers
from shared.tokenstore import TokenStore

log = get_logger(__name__)

Publish = Callable[[ToolExecutionCompleted], Awaitable[None]]


@dataclass(frozen=True)
class Grant:
    """The token a tool runs with; ``provider_key`` is set when it can be refreshed on a 401."""

    token: str
    user_info: dict[str, Any] = field(default_factory=dict)
    provider_key: str | None = None


def authorization_body(authorization: Authorization) -> dict[str, Any]:
    """Arcade's ``AuthorizationResponse``, ``authorization_url`` beside ``url``.

    See docs/arcade-compatibility.md §2.3.
    """
    body = authorization.model_dump(mode="json", exclude_none=True)
    if authorization.url:
        body["authorization_url"] = authorization.url
    return body


def qualified_name(definition: Mapping[str, Any]) -> str:
    """``Toolkit.Tool``."""
    return f"{definition['toolkit']['name']}.{definition['name']}"


def _envelope(definition: Mapping[str, Any], execution_id: str, started: float) -> dict[str, Any]:
    return {
        "id": new_id("te"),
        "execution_id": execution_id,
        "execution_type": "immediate",
        "duration": (time.monotonic() - started) * 1000,
        "finished_at": utcnow().isoformat().replace("+00:00", "Z"),
        "tool_name": qualified_name(definition),
    }


class Executor:
    """The execute use case.

    Args:
        catalog: Where tools are found and run.
        providers: Maps a tool's requirement to the provider its tokens are stored under.
        tokens: The token store.
        secrets: Tool secrets.
        policy: Refresh timing (``fresh_token`` asks the refresher inside the margin).
        rpc: Returns the NATS client (available once the service started).
        publish: Queues a ``ToolExecutionCompleted`` event (the outbox).
    """

    def __init__(
        self,
        catalog: ToolCatalog,
        providers: Providers,
        tokens: TokenStore,
        secrets: SecretStore,
        policy: RefreshPolicy,
        rpc: Callable[[], RpcClient],
        publish: Publish,
    ) -> None:
        self._catalog = catalog
        self._providers = providers
        self._tokens = tokens
        self._secrets = secrets
        self._policy = policy
        self._rpc = rpc
        self._publish = publish

    async def execute(self, request: ExecuteTool) -> ExecutionReply:
        """Run a tool and answer Arcade's execute response (or the 403 of a missing requirement).

        Raises:
            BadRequest: Unparseable name, ``run_at`` given, or no ``user_id`` for a tool that needs auth.
            NotFound: Unknown tool or version.
            ToolRequirementsNotMet: No enabled provider serves the tool's authorization.
        """
        if request.run_at:
            raise BadRequest("scheduled executions (run_at) are not supported by this engine")
        started = time.monotonic()
        definition, source = self._catalog.resolve(request.tool_name, request.tool_version)
        execution_id = new_id("tc")
        auth = (definition.get("requirements") or {}).get("authorization")
        grant: Grant | None = None
        if auth:
            granted = await self._grant(definition, auth, request.user_id)
            if isinstance(granted, Authorization):
                return self._authorization_required(definition, granted, execution_id, started)
            grant = granted
        wanted = [s["key"] for s in (definition.get("requirements") or {}).get("secrets") or []]
        secrets, missing = await self._secrets.values(wanted)
        if missing:
            return self._secret_missing(definition, missing[0], execution_id, started)
        response = await self._run(source, definition, request, execution_id, grant, secrets)
        if _upstream_refused(response) and grant is not None and grant.provider_key and request.user_id:
            grant = await self._refreshed(grant.provider_key, request.user_id)
            if grant is not None:  # one retry with the new token; never more (the tool may have side effects)
                response = await self._run(source, definition, request, execution_id, grant, secrets)
        body = self._completed(definition, response, request.include_error_stacktrace, started)
        if request.webhook:
            await self._notify(body, request.user_id)
        return ExecutionReply(status_code=200, body=body)

    async def _grant(
        self, definition: Mapping[str, Any], auth: Mapping[str, Any], user_id: str | None
    ) -> Grant | Authorization:
        if not user_id:
            raise BadRequest(f"user_id is required: tool {qualified_name(definition)} needs authorization")
        info = await self._providers.lookup(auth)
        if not info.active:
            raise ToolRequirementsNotMet(
                f"tool {qualified_name(definition)} cannot be authorized: {info.reason}"
            )
        token = await fresh_token(
            self._tokens, self._rpc(), self._policy, user_id=user_id, provider_id=info.key
        )
        if covers(token, scopes_of(auth), now=utcnow()):
            key = info.key if token.refresh_token else None
            return Grant(token.access_token, token.user_info, key)
        # No usable token, or one without the scopes: the authorizer starts (or finds) the flow.
        start = StartAuthorization(user_id=user_id, requirement=requirement_of(auth))
        authorization = await self._rpc().call(subjects.AUTH_START, start, Authorization)
        context = authorization.context
        if authorization.status == "completed" and context is not None and context.token:
            return Grant(context.token, context.user_info)
        return authorization

    async def _refreshed(self, provider_key: str, user_id: str) -> Grant | None:
        try:
            token = await fresh_token(
                self._tokens, self._rpc(), self._policy, user_id=user_id, provider_id=provider_key, force=True
            )
        except ValetkeyError as exc:
            log.info("execute.refresh_failed", provider_id=provider_key, error=exc.code)
            return None
        return None if token is None else Grant(token.access_token, token.user_info)

    async def _run(
        self,
        source: ToolSource,
        definition: Mapping[str, Any],
        request: ExecuteTool,
        execution_id: str,
        grant: Grant | None,
        secrets: list[dict[str, str]],
    ) -> dict[str, Any]:
        toolkit = definition["toolkit"]
        call = {
            "execution_id": execution_id,
            "tool": {
                "name": definition["name"],
                "toolkit": toolkit["name"],
                "version": toolkit.get("version"),
            },
            "inputs": request.input,
            "context": {
                "authorization": None
                if grant is None
                else {"token": grant.token, "user_info": grant.user_info},
                "secrets": secrets,
                "user_id": request.user_id,
            },
        }
        started = time.monotonic()
        try:
            return await source.invoke(call)
        except Exception as exc:  # a source bug must not take the executor down; the agent gets an answer
            log.exception("execute.source_crashed", tool=qualified_name(definition))
            message = f"the engine could not run the tool: {type(exc).__name__}"
            return failed_response(execution_id, started, ErrorKind.TOOL_RUNTIME_FATAL, message)

    def _completed(
        self, definition: Mapping[str, Any], response: Mapping[str, Any], stacktrace: bool, started: float
    ) -> dict[str, Any]:
        body = _envelope(definition, str(response.get("execution_id") or ""), started)
        success = bool(response.get("success"))
        output = public_output(response.get("output") or {}, include_stacktrace=stacktrace) or {}
        shaped: dict[str, Any] = {"value": output.get("value")} if success else {"error": output.get("error")}
        shaped["logs"] = output.get("logs") or []
        body |= {"status": "completed" if success else "failed", "success": success, "output": shaped}
        if isinstance(response.get("duration"), int | float):
            body["duration"] = response["duration"]
        return body

    def _authorization_required(
        self, definition: Mapping[str, Any], authorization: Authorization, execution_id: str, started: float
    ) -> ExecutionReply:
        name = qualified_name(definition)
        body = {
            "name": "tool_authorization_required",
            "message": f"tool {name} needs authorization by the user; open the url to grant it",
            **_envelope(definition, execution_id, started),
            "status": "failed",
            "success": False,
            "output": {"authorization": authorization_body(authorization), "logs": []},
        }
        return ExecutionReply(status_code=403, body=body)

    def _secret_missing(
        self, definition: Mapping[str, Any], key: str, execution_id: str, started: float
    ) -> ExecutionReply:
        message = f"secret not found: {key}"
        error = {"message": message, "kind": "TOOL_REQUIREMENTS_NOT_MET", "can_retry": False}
        body = {
            "name": "tool_requirements_not_met",
            "message": message,
            **_envelope(definition, execution_id, started),
            "status": "failed",
            "success": False,
            "output": {"error": error, "logs": []},
        }
        return ExecutionReply(status_code=403, body=body)

    async def _notify(self, body: Mapping[str, Any], user_id: str | None) -> None:
        event = ToolExecutionCompleted(
            user_id=user_id,
            execution_id=str(body["execution_id"]),
            tool_name=str(body["tool_name"]),
            status=str(body["status"]),
            success=bool(body["success"]),
        )
        try:
            await self._publish(event)
        except Exception as exc:  # the tool already ran: its answer matters more than the event
            log.warning("execute.event_not_queued", error=type(exc).__name__)


def _upstream_refused(response: Mapping[str, Any]) -> bool:
    error = (response.get("output") or {}).get("error") or {}
    return bool(error.get("kind") == ErrorKind.UPSTREAM_RUNTIME_AUTH_ERROR.value)

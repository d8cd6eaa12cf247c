"""Running one tool for one user: requirements, token, secrets, the call, Arcade's execute response.

The order is Arcade's (docs/arcade-compatibility.md §3.2): resolve the name, then the project's access
hooks (docs/contextual-access.md), then authorization (a missing or narrower token starts an
authorization and answers 403 with its URL), then secrets, then the pre hooks, the call, the post hooks.
A tool's failure is a result with outcome ``failed``; nothing a tool does
raises out of here. The result is typed (``ExecutionResult``); the gateway writes Arcade's JSON.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arcade_core.errors import ErrorKind

from services.executor import domain, metrics
from services.executor.domain import Grant, Ran, Run, qualified_name
from services.executor.hook_domain import NO_HOOKS
from services.executor.hooks import ContextualAccess
from services.executor.ports import (
    Authorizer,
    Catalog,
    Events,
    FreshTokens,
    History,
    ProviderLookup,
    Secrets,
    UsageNotes,
)
from services.executor.responses import failed_response
from services.executor.sources import InProcessToolkits, ToolSource
from shared.contracts.authorization import Authorization, StartAuthorization
from shared.contracts.common import new_id, utcnow
from shared.contracts.events import ToolExecutionCompleted
from shared.contracts.execution import ExecuteTool, ExecutionResult
from shared.errors import BadRequest, ToolRequirementsNotMet, ValetkeyError
from shared.runtime import tracing
from shared.runtime.background import Background
from shared.runtime.logging import get_logger
from shared.tokens.model import covers

log = get_logger(__name__)


class Executor:
    """The execute use case.

    Args:
        catalog: Where tools are found and run.
        providers: Maps a tool's requirement to the provider its tokens are stored under.
        fresh: Reads a user's token, refreshed when due (forced after an upstream 401).
        secrets: Tool secrets.
        authorizer: Starts the authorization a missing or narrower token needs.
        events: Queues a ``ToolExecutionCompleted`` event (the outbox).
        history: Records each immediate execution (docs/scheduled-executions.md).
        after_reply: Runs the history's write once the answer is on its way (it cost the caller
            ~0.9 ms of latency at one client when awaited); a stop drains it.
        hooks: The projects' Contextual Access hooks (None: no hooks anywhere).
        last_use: Notes that a tool uses a connection's token (written at most once a minute,
            after the reply: shared/tokens/last_use.py).
    """

    def __init__(
        self,
        catalog: Catalog,
        providers: ProviderLookup,
        fresh: FreshTokens,
        secrets: Secrets,
        authorizer: Authorizer,
        events: Events,
        history: History,
        after_reply: Background | None = None,
        hooks: ContextualAccess | None = None,
        last_use: UsageNotes | None = None,
    ) -> None:
        self._last_use = last_use
        self._catalog = catalog
        self._providers = providers
        self._fresh = fresh
        self._secrets = secrets
        self._authorizer = authorizer
        self._events = events
        self._history = history
        self._after_reply = after_reply
        self._hooks = hooks

    async def execute(self, request: ExecuteTool) -> ExecutionResult:
        """Run a tool now and record it in the history; the result says whether it ran, or which
        requirement is missing.

        Raises:
            BadRequest: Unparseable name, ``run_at`` given (the schedule subject takes those), or no
                ``user_id`` for a tool that needs auth.
            NotFound: Unknown tool or version.
            ToolRequirementsNotMet: No enabled provider serves the tool's authorization.
        """
        if request.run_at:
            raise BadRequest("a run_at execution is scheduled, not run: send it to the schedule subject")
        started_at = utcnow()
        ran = await self.run(request)
        record = self._history.ran(request, ran, started_at)
        if self._after_reply is None:
            await record
        else:
            self._after_reply.run(record, name="history.ran")
        if request.webhook:
            await self.notify(ran.result, request)
        return ran.result

    async def run(self, request: ExecuteTool, *, execution_id: str | None = None) -> Ran:
        """Run a tool now (the path of immediate and scheduled runs alike), nothing recorded.

        Raises:
            BadRequest, NotFound, ToolRequirementsNotMet: As :meth:`execute`.
            ToolDeniedByHook, HookUnavailable: A hook refused the run, or failed and fails closed.
        """
        started = time.monotonic()
        definition, source = self._catalog.resolve(
            request.tool_name, request.tool_version, project=request.project
        )
        kind = "in_process" if isinstance(source, InProcessToolkits) else "worker"
        execution_id = execution_id or new_id("tc")
        hooks = self._hooks
        chains = NO_HOOKS if hooks is None else await hooks.chains(request.project)
        if hooks is not None and chains.access:
            await hooks.check_access(chains, definition, request)
        auth = domain.authorization_of(definition)
        grant: Grant | None = None
        if auth:
            granted = await self._grant(definition, auth, request)
            if isinstance(granted, Authorization):
                run = _run(definition, execution_id, started)
                return Ran(domain.authorization_required(run, granted), definition, kind)
            grant = granted
        secret_keys = domain.secret_keys_of(definition)
        secrets, missing = await self._secrets.values(secret_keys, request.project)
        if missing:
            result = domain.secret_missing(_run(definition, execution_id, started), missing[0])
            return Ran(result, definition, kind)
        inputs = request.input
        if hooks is not None and chains.pre:
            inputs = await hooks.rewrite_inputs(
                chains, definition, request, execution_id=execution_id, secret_keys=secret_keys
            )
        call = _Call(source, definition, request.user_id, inputs, execution_id, secrets)
        response = await self._call(call, grant)
        if domain.upstream_refused(response) and grant is not None and grant.provider_key and request.user_id:
            grant = await self._refreshed(grant.provider_key, request.user_id, request.project)
            if grant is not None:  # one retry with the new token; never more (the tool may have side effects)
                response = await self._call(call, grant)
        if hooks is not None and chains.post:
            response = await hooks.filter_output(
                chains,
                definition,
                request,
                execution_id=execution_id,
                inputs=inputs,
                response=response,
                secret_keys=secret_keys,
            )
        run = _run(definition, execution_id, started)
        result = domain.ran(run, response, include_stacktrace=request.include_error_stacktrace)
        metrics.record(run.tool_name, kind, result.outcome == "completed", run.duration_ms / 1000)
        return Ran(result, definition, kind)

    async def _grant(
        self, definition: Mapping[str, Any], auth: Mapping[str, Any], request: ExecuteTool
    ) -> Grant | Authorization:
        user_id, project = request.user_id, request.project
        if not user_id:
            raise BadRequest(f"user_id is required: tool {qualified_name(definition)} needs authorization")
        info = await self._providers.lookup(auth, project)
        if not info.active:
            raise ToolRequirementsNotMet(
                f"tool {qualified_name(definition)} cannot be authorized: {info.reason}"
            )
        token = await self._fresh(user_id, info.key, project=project)
        if covers(token, domain.scopes_of(auth), now=utcnow()):
            if self._last_use is not None:
                self._last_use.note(user_id, info.key, project)
            key = info.key if token.refresh_token else None
            return Grant(token.access_token, token.user_info, key)
        # No usable token, or one without the scopes: the authorizer starts (or finds) the flow.
        start = StartAuthorization(user_id=user_id, project=project, requirement=domain.requirement_of(auth))
        authorization = await self._authorizer.start(start)
        context = authorization.context
        if authorization.status == "completed" and context is not None and context.token:
            return Grant(context.token, context.user_info)
        return authorization

    async def _refreshed(self, provider_key: str, user_id: str, project: str) -> Grant | None:
        try:
            token = await self._fresh(user_id, provider_key, project=project, force=True)
        except ValetkeyError as exc:
            log.info("execute.refresh_failed", provider_id=provider_key, error=exc.code)
            return None
        return None if token is None else Grant(token.access_token, token.user_info)

    async def _call(self, call: _Call, grant: Grant | None) -> dict[str, Any]:
        request = domain.tool_call(
            call.definition,
            execution_id=call.execution_id,
            inputs=call.inputs,
            grant=grant,
            secrets=call.secrets,
            user_id=call.user_id,
        )
        started = time.monotonic()
        name = qualified_name(call.definition)
        where = "in_process" if isinstance(call.source, InProcessToolkits) else "worker"
        try:  # a worker's HTTP call is a child span of this one (tracing on)
            with tracing.span(
                f"execute_tool {name}", **{"gen_ai.tool.name": name, "valetkey.tool.source": where}
            ):
                return await call.source.invoke(request)
        except Exception as exc:  # a source bug must not take the executor down; the agent gets an answer
            log.exception("execute.source_crashed", tool=name)
            message = f"the engine could not run the tool: {type(exc).__name__}"
            return failed_response(call.execution_id, started, ErrorKind.TOOL_RUNTIME_FATAL, message)

    async def notify(self, result: ExecutionResult, request: ExecuteTool) -> None:
        """Queue the ``tool.execution.completed`` event of a run (its failure is logged, not raised)."""
        event = ToolExecutionCompleted(
            user_id=request.user_id,
            project=request.project,
            execution_id=result.execution_id,
            tool_name=result.tool_name,
            status="completed" if result.outcome == "completed" else "failed",
            success=result.outcome == "completed",
        )
        try:
            await self._events.publish(event)
        except Exception as exc:  # the tool already ran: its answer matters more than the event
            log.warning("execute.event_not_queued", error=type(exc).__name__)


@dataclass(frozen=True)
class _Call:
    """What a call to the tool's source is made of, but the grant (a retry gets a fresh one)."""

    source: ToolSource
    definition: Mapping[str, Any]
    user_id: str | None
    inputs: Mapping[str, Any]
    execution_id: str
    secrets: list[dict[str, str]]


def _run(definition: Mapping[str, Any], execution_id: str, started: float) -> Run:
    """The execution's identity and clock, read as it ends."""
    duration = (time.monotonic() - started) * 1000
    return Run(new_id("te"), execution_id, qualified_name(definition), duration, utcnow())

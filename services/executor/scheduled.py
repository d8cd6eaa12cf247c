"""Scheduled executions (``run_at``) and the history's queries (docs/scheduled-executions.md).

:class:`Scheduling` takes a run (checked as an immediate one would be: the tool known, a user
for a tool that needs authorization) and answers the history's pages. :class:`ScheduledRunner`
runs what is due, on every executor replica: each round claims due runs by lease
(``shared.runtime.due``), so replicas share them and none takes a run another holds; a replica
that dies leaves its claims to the next claim after their lease. A run goes through
:meth:`Executor.run`, the immediate path, so the same authorization rules hold; a missing
authorization is a failed attempt carrying the URL to open. A run is started at most once: a
run found started by a replica that stopped is recorded as failed, not run again (the tool may
have had effects).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

from services.executor import domain, records
from services.executor.execution import Executor
from services.executor.history import Begun, ExecutionHistory
from services.executor.ports import Catalog, Events
from shared.contracts.common import Page, utcnow
from shared.contracts.events import ToolExecutionCompleted
from shared.contracts.execution import (
    Attempt,
    ExecuteTool,
    ExecutionQuery,
    ExecutionRecord,
    ExecutionRef,
)
from shared.errors import BadRequest, NotFound, ValetkeyError
from shared.runtime.background import Periodic
from shared.runtime.config_tools import ScheduledConfig
from shared.runtime.due import Claimed
from shared.runtime.logging import get_logger

log = get_logger(__name__)

STOPPED_MID_RUN = (
    "the executor running it stopped during the run; it is not run again (the tool may have had effects)"
)
SUMMARY = {"input", "attempts", "project"}
#: Bytes of records one page carries with their outputs (a NATS message stops at 1 MiB).
PAGE_BUDGET = 640 * 1024


class Scheduling:
    """Schedules runs and reads the history.

    Args:
        catalog: Where tools are found.
        history: The history and due set.
        config: ``tools.scheduled``.
    """

    def __init__(self, catalog: Catalog, history: ExecutionHistory, config: ScheduledConfig) -> None:
        self._catalog = catalog
        self._history = history
        self._config = config

    async def schedule(self, request: ExecuteTool) -> ExecutionRecord:
        """Keep a run for its ``run_at``; answers its pending record.

        Raises:
            BadRequest: ``run_at`` unparseable, past or beyond the horizon; no ``user_id`` for a
                tool that needs authorization.
            NotFound: Unknown tool or version.
        """
        now = utcnow()
        run_at = records.run_at_of(request.run_at or "", now, self._config.horizon_days)
        definition, _ = self._catalog.resolve(
            request.tool_name, request.tool_version, project=request.project
        )
        if domain.authorization_of(definition) and not request.user_id:
            raise BadRequest(
                f"user_id is required: tool {domain.qualified_name(definition)} needs authorization"
            )
        record = records.scheduled(request, definition, run_at, now)
        await self._history.schedule(record, request.model_copy(update={"run_at": None}), run_at)
        return record

    async def list(self, query: ExecutionQuery) -> Page:
        """A page of scheduled runs, newest first (``tools.scheduled.list``)."""
        query = query.model_copy(update={"execution_type": "scheduled"})
        return await self.history(query, exclude=SUMMARY)

    async def get(self, ref: ExecutionRef) -> ExecutionRecord:
        """One scheduled run with its input and attempts (``tools.scheduled.get``).

        Raises:
            NotFound: No such scheduled run in the project (or its record expired).
        """
        record = await self._history.get(ref.project, ref.id)
        if record is None or record.execution_type != "scheduled":
            raise NotFound(f"scheduled execution {ref.id} not found")
        return record

    async def history(self, query: ExecutionQuery, exclude: set[str] | None = None) -> Page:
        """A page of the project's executions, newest first, whole (the admin API)."""
        query = query.model_copy(update={"tool_name": self._name(query)})
        found, total = await self._history.page(query)
        items = [r.model_dump(mode="json", exclude=exclude or {"project"}) for r in found]
        return Page(items=within_budget(items), total_count=total)

    def _name(self, query: ExecutionQuery) -> str | None:
        """The qualified name a client's tool name refers to (``Toolkit_Tool`` and the like)."""
        if not query.tool_name:
            return None
        try:
            definition, _ = self._catalog.resolve(query.tool_name, project=query.project)
        except ValetkeyError:
            return query.tool_name  # a tool gone from the catalog still has its history
        return domain.qualified_name(definition)


def within_budget(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A page that fits a NATS message: past :data:`PAGE_BUDGET` bytes, items lose their outputs
    (a smaller ``limit`` shows them)."""
    used, kept = 0, []
    for item in items:
        size = len(json.dumps(item, default=str))
        if used + size > PAGE_BUDGET:
            item = {**item, "attempts": [_without_output(a) for a in item.get("attempts") or []]}
            size = len(json.dumps(item, default=str))
        used += size
        kept.append(item)
    return kept


def _without_output(attempt: dict[str, Any]) -> dict[str, Any]:
    result = attempt.get("result")
    if not result:
        return attempt
    note = "[left out of this page for its size: ask for fewer items]"
    return {**attempt, "result": {**result, "value": note, "error": None, "logs": []}}


class ScheduledRunner:
    """Runs due scheduled runs on this replica until stopped.

    Args:
        executor: The immediate path every run takes.
        history: The history and due set.
        events: Queues each run's ``tool.execution.completed``.
        config: ``tools.scheduled`` (poll interval, concurrency).
        lease_seconds: How long a claim holds: longer than any run may take.
    """

    def __init__(
        self,
        executor: Executor,
        history: ExecutionHistory,
        events: Events,
        config: ScheduledConfig,
        *,
        lease_seconds: float,
    ) -> None:
        self._executor = executor
        self._history = history
        self._events = events
        self._config = config
        self._lease_s = lease_seconds
        self._running: set[asyncio.Task[None]] = set()
        self._loop = Periodic(
            self.round,
            config.poll_seconds,
            name="scheduled-runs",
            failed="scheduled.round_failed",
            at_once=True,
        )

    def start(self) -> None:
        self._loop.start()
        log.info("scheduled.runner_started", poll_seconds=self._config.poll_seconds)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let runs under way finish within ``grace`` seconds (then cancel them)."""
        await self._loop.stop()
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            for task in pending:
                task.cancel()

    async def round(self) -> int:
        """Claim what is due, as many as there are free slots, and start each; returns how many."""
        room = self._config.concurrency - len(self._running)
        if room <= 0:
            return 0
        now = time.time()
        claims = await self._history.due.claim(now, now + self._lease_s, room)
        for claim in claims:
            task = asyncio.create_task(self._guarded(claim))
            self._running.add(task)
            task.add_done_callback(self._finished)
        return len(claims)

    def _finished(self, task: asyncio.Task[None]) -> None:
        full = len(self._running) >= self._config.concurrency
        self._running.discard(task)
        if full:
            self._loop.wake()  # there may be more due than the last round had room for

    async def _guarded(self, claim: Claimed) -> None:
        try:
            await self.run_one(claim)
        except Exception:  # Redis away mid-run: the lease brings the claim back
            log.exception("scheduled.run_crashed", member=claim.member)

    async def run_one(self, claim: Claimed) -> None:
        """Run one claimed run (or record why it cannot run), then release the claim."""
        project, _, execution_id = claim.member.partition("/")
        started_at = utcnow()
        begun = await self._history.begin(project, execution_id)
        record = begun.record
        if record is not None and record.status in ("pending", "running"):
            await self._attempt(record, begun, started_at)
        await self._history.due.done(claim)

    async def _attempt(self, record: ExecutionRecord, begun: Begun, started_at: datetime) -> None:
        if not begun.first or begun.request is None:
            why = STOPPED_MID_RUN if not begun.first else "the run's request is gone"
            await self._end(record, records.system_failure(started_at, utcnow(), why), started_at)
            return
        await self._history.update(records.started(record, started_at))
        try:
            ran = await self._executor.run(begun.request, execution_id=record.execution_id)
        except ValetkeyError as exc:  # the tool gone from the catalog, its provider disabled...
            await self._end(record, records.system_failure(started_at, utcnow(), exc.message), started_at)
            return
        max_size = self._history.config.max_output_size
        await self._end(record, records.attempt_of(ran, started_at, utcnow(), max_size), started_at)

    async def _end(self, record: ExecutionRecord, attempt: Attempt, started_at: datetime) -> None:
        done = records.finished(record, attempt, started_at, utcnow())
        await self._history.finish(done)
        lag = (started_at - datetime.fromisoformat(record.run_at or done.created_at)).total_seconds()
        log.info(
            "scheduled.ran", id=record.id, tool=record.tool_name, status=done.status, lateness_s=round(lag, 3)
        )
        event = ToolExecutionCompleted(
            user_id=record.user_id,
            project=record.project,
            execution_id=record.execution_id,
            tool_name=record.tool_name,
            status="completed" if attempt.success else "failed",
            success=attempt.success,
        )
        try:
            await self._events.publish(event)
        except Exception as exc:  # the run is recorded: its record matters more than the event
            log.warning("scheduled.event_not_queued", error=type(exc).__name__)

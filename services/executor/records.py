"""The execution history's records, built from runs (docs/scheduled-executions.md). Pure: times come in.

What a record keeps of a run follows ``execution_logging``: an immediate execution's input and
output only when ``include_inputs``/``include_outputs`` say so; a scheduled one's always, since
``tools.scheduled.get`` is where its caller reads them. Whatever is kept is redacted
(``shared.runtime.logging.redact``), and an output over ``max_output_size`` (at most
:data:`MAX_KEPT_OUTPUT`: a record travels over NATS, whose messages stop at 1 MiB) is replaced by a note.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from services.executor.domain import Ran, qualified_name
from shared.contracts.common import new_id
from shared.contracts.execution import Attempt, ExecuteTool, ExecutionRecord, ExecutionResult
from shared.errors import BadRequest
from shared.runtime.config_tools import ExecutionLoggingConfig
from shared.runtime.logging import redact

#: The largest output a record keeps, whatever ``max_output_size`` says (docs/scheduled-executions.md).
MAX_KEPT_OUTPUT = 256 * 1024
#: The error kind of a run that did not start: a missing authorization or secret (Arcade's kind).
REQUIREMENTS_NOT_MET = "TOOL_REQUIREMENTS_NOT_MET"


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC, ``Z`` suffixed (the form of every time the API answers)."""
    return moment.isoformat().replace("+00:00", "Z")


def run_at_of(value: str, now: datetime, horizon_days: float) -> datetime:
    """A client's ``run_at``: ISO 8601, UTC when it names no offset, after ``now``, within the horizon.

    Raises:
        BadRequest: Unparseable, not in the future, or beyond the horizon.
    """
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise BadRequest(f"run_at must be an ISO 8601 date and time, not {value[:64]!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    if moment <= now:
        raise BadRequest("run_at must be in the future")
    if moment > now + timedelta(days=horizon_days):
        raise BadRequest(f"run_at must be within {horizon_days:g} days")
    return moment


def error_kind(result: ExecutionResult) -> str | None:
    """Why a run failed, as Arcade's error kind; None when it succeeded."""
    if result.outcome == "completed":
        return None
    if result.outcome == "failed":
        return str((result.error or {}).get("kind") or "UNKNOWN")
    return REQUIREMENTS_NOT_MET


def kept_input(inputs: Mapping[str, Any], keep: bool) -> dict[str, Any] | None:
    return dict(redact(dict(inputs))) if keep else None


def kept_result(result: ExecutionResult, *, keep: bool, max_size: int) -> ExecutionResult:
    """The result as the history keeps it: redacted, or without the tool's value, error and logs."""
    if not keep:
        return result.model_copy(update={"value": None, "error": None, "logs": []})
    value = redact(result.value)
    size = len(json.dumps(value, default=str))
    if size > min(max_size, MAX_KEPT_OUTPUT):
        value = f"[an output of {size} bytes, over the history's output size limit, is not kept]"
    error = redact(result.error) if result.error else None
    return result.model_copy(update={"value": value, "error": error, "logs": redact(result.logs)})


def _toolkit(definition: Mapping[str, Any]) -> tuple[str, str | None]:
    toolkit = definition.get("toolkit") or {}
    return str(toolkit.get("name") or ""), toolkit.get("version")


def _base(request: ExecuteTool, definition: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    name, version = _toolkit(definition)
    stamp = iso(now)
    return {
        "project": request.project,
        "tool_name": qualified_name(definition),
        "toolkit_name": name,
        "toolkit_version": version,
        "user_id": request.user_id,
        "created_at": stamp,
        "updated_at": stamp,
    }


def immediate(
    request: ExecuteTool, ran: Ran, started_at: datetime, now: datetime, config: ExecutionLoggingConfig
) -> ExecutionRecord:
    """The record of an immediate execution that has just answered."""
    keep = config.include_outputs
    attempt = Attempt(
        id=new_id("ta"),
        started_at=iso(started_at),
        finished_at=iso(now),
        success=ran.result.outcome == "completed",
        result=kept_result(ran.result, keep=keep, max_size=config.max_output_size),
    )
    fields = _base(request, ran.definition, started_at)
    return ExecutionRecord(
        **fields,
        id=ran.result.id,
        execution_id=ran.result.execution_id,
        execution_type="immediate",
        status="success" if attempt.success else "failed",
        source=ran.source,
        started_at=attempt.started_at,
        finished_at=attempt.finished_at,
        duration_ms=float(ran.result.duration),
        error_kind=error_kind(ran.result),
        input=kept_input(request.input, config.include_inputs),
        outputs_kept=keep,
        attempts=[attempt],
    )


def scheduled(
    request: ExecuteTool, definition: Mapping[str, Any], run_at: datetime, now: datetime
) -> ExecutionRecord:
    """The record of a run scheduled for ``run_at``, pending."""
    return ExecutionRecord(
        **_base(request, definition, now),
        id=new_id("te"),
        execution_id=new_id("tc"),
        execution_type="scheduled",
        status="pending",
        run_at=iso(run_at),
        input=kept_input(request.input, True),
    )


def started(record: ExecutionRecord, now: datetime) -> ExecutionRecord:
    stamp = iso(now)
    return record.model_copy(update={"status": "running", "started_at": stamp, "updated_at": stamp})


def attempt_of(ran: Ran, started_at: datetime, now: datetime, max_size: int) -> Attempt:
    """A scheduled run's attempt: its result kept whole (redacted), the authorization URL included."""
    return Attempt(
        id=new_id("ta"),
        started_at=iso(started_at),
        finished_at=iso(now),
        success=ran.result.outcome == "completed",
        result=kept_result(ran.result, keep=True, max_size=max_size),
    )


def system_failure(started_at: datetime, now: datetime, message: str) -> Attempt:
    """An attempt the engine could not make (the tool gone, the executor stopped mid-run)."""
    return Attempt(
        id=new_id("ta"),
        started_at=iso(started_at),
        finished_at=iso(now),
        success=False,
        system_error_message=message,
    )


def finished(
    record: ExecutionRecord, attempt: Attempt, started_at: datetime, now: datetime
) -> ExecutionRecord:
    """The record once ``attempt`` ended it."""
    result = attempt.result
    kind = error_kind(result) if result is not None else "TOOL_RUNTIME_FATAL"
    duration = (now - started_at).total_seconds() * 1000
    return record.model_copy(
        update={
            "status": "success" if attempt.success else "failed",
            "started_at": record.started_at or attempt.started_at,
            "finished_at": attempt.finished_at,
            "updated_at": iso(now),
            "duration_ms": float(result.duration) if result is not None else duration,
            "error_kind": None if attempt.success else kind,
            "attempts": [*record.attempts, attempt],
        }
    )

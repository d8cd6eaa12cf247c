"""Arcade's JSON shapes, written from the services' typed results; the only place that knows them.

The authorizer answers :class:`shared.contracts.authorization.Authorization` and the
executor :class:`shared.contracts.execution.ExecutionResult`; the routes turn them into
Arcade's ``AuthorizationResponse`` and ``ExecuteToolResponse`` here (docs/arcade-compatibility.md
§2.3 and §3.2).

Both work on the replies' JSON as received, not on re-validated models: on the polling
path the model round trip cost more than the rest of the route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: HTTP status of an execution whose tool did not run because a requirement is missing.
REQUIREMENT_MISSING_STATUS = 403


def authorization_body(auth: Mapping[str, Any], *, drop_nulls: bool = True) -> dict[str, Any]:
    """An ``Authorization`` (as sent) shaped as Arcade's ``AuthorizationResponse``.

    ``authorization_url`` repeats ``url`` for the pages written from Arcade's guides that read
    that name (docs/arcade-compatibility.md §2.3).

    Args:
        auth: The authorization's JSON.
        drop_nulls: Leave absent fields out (here and in ``context``), as ``/v1/auth/*``
            always has; ``/v1/tools/authorize`` has always sent them as ``null``.
    """
    if not drop_nulls:
        body = dict(auth)
    else:
        body = {k: v for k, v in auth.items() if v is not None}
        context = body.get("context")
        if isinstance(context, dict):
            body["context"] = {k: v for k, v in context.items() if v is not None}
    if body.get("url"):
        body["authorization_url"] = body["url"]
    return body


def _envelope(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": result["id"],
        "execution_id": result["execution_id"],
        "execution_type": "immediate",
        "duration": result["duration"],
        "finished_at": result["finished_at"],
        "tool_name": result["tool_name"],
    }


def _ran(result: Mapping[str, Any]) -> dict[str, Any]:
    success = result["outcome"] == "completed"
    output: dict[str, Any] = {"value": result.get("value")} if success else {"error": result.get("error")}
    output["logs"] = result.get("logs") or []
    status = "completed" if success else "failed"
    return {**_envelope(result), "status": status, "success": success, "output": output}


def _not_run(result: Mapping[str, Any], name: str, message: str, output: dict[str, Any]) -> dict[str, Any]:
    envelope = _envelope(result)
    return {
        "name": name,
        "message": message,
        **envelope,
        "status": "failed",
        "success": False,
        "output": output,
    }


def execution_response(result: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """An ``ExecutionResult`` (as sent) as the HTTP status and Arcade's execute response body.

    A tool that ran answers 200 (``success`` false when it failed); a missing requirement
    answers 403 with the authorization to open, or the missing secret's error.
    """
    outcome, tool = result["outcome"], result["tool_name"]
    if outcome == "authorization_required":
        message = f"tool {tool} needs authorization by the user; open the url to grant it"
        output = {"authorization": authorization_body(result["authorization"]), "logs": []}
        return REQUIREMENT_MISSING_STATUS, _not_run(result, "tool_authorization_required", message, output)
    if outcome == "secret_missing":
        message = f"secret not found: {result['missing_secret']}"
        error = {"message": message, "kind": "TOOL_REQUIREMENTS_NOT_MET", "can_retry": False}
        body = _not_run(result, "tool_requirements_not_met", message, {"error": error, "logs": []})
        return REQUIREMENT_MISSING_STATUS, body
    return 200, _ran(result)


# --- scheduled executions and the history (docs/scheduled-executions.md) ------------------------
_TOOL_EXECUTION = (
    "id",
    "created_at",
    "updated_at",
    "execution_type",
    "tool_name",
    "toolkit_name",
    "toolkit_version",
    "user_id",
    "run_at",
    "started_at",
    "finished_at",
)


def scheduled_response(record: Mapping[str, Any]) -> dict[str, Any]:
    """A just-scheduled ``ExecutionRecord`` as Arcade's execute response: pending, nothing ran yet."""
    return {
        "id": record["id"],
        "execution_id": record["execution_id"],
        "execution_type": "scheduled",
        "run_at": record["run_at"],
        "status": record["status"],
        "success": True,
        "tool_name": record["tool_name"],
    }


def tool_execution(record: Mapping[str, Any]) -> dict[str, Any]:
    """An ``ExecutionRecord`` as Arcade's ``ToolExecution`` (an item of ``tools.scheduled.list``)."""
    return {**{k: record.get(k) for k in _TOOL_EXECUTION}, "execution_status": record["status"]}


def tool_execution_detail(record: Mapping[str, Any]) -> dict[str, Any]:
    """An ``ExecutionRecord`` as ``tools.scheduled.get`` answers it: with its input and attempts."""
    attempts = [attempt_body(a) for a in record.get("attempts") or []]
    return {**tool_execution(record), "input": record.get("input") or {}, "attempts": attempts}


def attempt_body(attempt: Mapping[str, Any]) -> dict[str, Any]:
    """One attempt as Arcade's ``ToolExecutionAttempt``; a missing authorization is a failed attempt
    whose output carries the authorization to open, and a requirements error."""
    body = {k: attempt.get(k) for k in ("id", "started_at", "finished_at", "success", "system_error_message")}
    result = attempt.get("result")
    if result is None:
        return body
    status_code, answer = execution_response(result)
    output = dict(answer["output"])
    if status_code == REQUIREMENT_MISSING_STATUS and "error" not in output:
        output["error"] = {
            "message": answer["message"],
            "kind": "TOOL_REQUIREMENTS_NOT_MET",
            "can_retry": False,
        }
    return {**body, "output": output}


def history_item(record: Mapping[str, Any]) -> dict[str, Any]:
    """An ``ExecutionRecord`` as the admin history lists it: Arcade's fields and valetkey's own
    (``source``, ``duration``, ``error_kind``), the input and last output when they were kept."""
    attempts = record.get("attempts") or []
    last = attempt_body(attempts[-1]) if attempts and record.get("outputs_kept", True) else {}
    return {
        **tool_execution(record),
        "execution_id": record["execution_id"],
        "source": record.get("source") or None,
        "duration": record.get("duration_ms"),
        "error_kind": record.get("error_kind"),
        "input": record.get("input"),
        "output": last.get("output"),
        "attempts": len(attempts),
    }

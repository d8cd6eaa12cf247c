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

from starlette.responses import JSONResponse

from services.gateway.arcade_schemas import conform
from shared.runtime.jsontext import dumps_compact

#: HTTP status of an execution whose tool did not run because a requirement is missing.
REQUIREMENT_MISSING_STATUS = 403


class JsonAnswer(JSONResponse):
    """A ``JSONResponse`` written by orjson where that gives the same bytes (every answer on
    the hot paths), by the standard library otherwise (``shared/runtime/jsontext.py``)."""

    def render(self, content: Any) -> bytes:
        return dumps_compact(content)


def authorization_body(auth: Mapping[str, Any], *, extras: bool = False) -> dict[str, Any]:
    """An ``Authorization`` (as sent) shaped as Arcade's ``AuthorizationResponse``: absent fields
    left out, never ``null`` (docs/arcade-compatibility.md §1.6).

    ``authorization_url`` repeats ``url`` for the pages written from Arcade's guides that read
    that name (§2.3). ``failure_reason`` is one of valetkey's extras: sent only when asked.
    """
    body: dict[str, Any] = conform(auth, "AuthorizationResponse", extras=extras)
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
    }


def _ran(result: Mapping[str, Any]) -> dict[str, Any]:
    success = result["outcome"] == "completed"
    output: dict[str, Any] = {"value": result.get("value")} if success else {"error": result.get("error")}
    output["logs"] = result.get("logs") or []
    status = "completed" if success else "failed"
    return {**_envelope(result), "status": status, "success": success, "output": output}


def _not_run(
    result: Mapping[str, Any], name: str, message: str, output: dict[str, Any], extras: bool
) -> dict[str, Any]:
    """The 403 error body: Arcade's ``{"name", "message"}``; with ``extras`` also the execute
    response (the authorization to open), as the console and valetkey's own callers read it."""
    if not extras:
        return {"name": name, "message": message}
    body = {**_envelope(result), "tool_name": result["tool_name"], "status": "failed", "success": False}
    body["output"] = output
    return {"name": name, "message": message, **conform(body, "ExecuteToolResponse", extras=True)}


def execution_response(result: Mapping[str, Any], *, extras: bool = False) -> tuple[int, dict[str, Any]]:
    """An ``ExecutionResult`` (as sent) as the HTTP status and Arcade's execute response body.

    A tool that ran answers 200 (``success`` false when it failed); a missing requirement
    answers 403 in the error shape, with ``extras`` also the authorization to open or the
    missing secret's error (docs/arcade-compatibility.md §1.6).
    """
    outcome, tool = result["outcome"], result["tool_name"]
    if outcome == "authorization_required":
        message = f"tool {tool} needs authorization by the user; open the url to grant it"
        output = {"authorization": authorization_body(result["authorization"], extras=extras), "logs": []}
        body = _not_run(result, "tool_authorization_required", message, output, extras)
        return REQUIREMENT_MISSING_STATUS, body
    if outcome == "secret_missing":
        message = f"secret not found: {result['missing_secret']}"
        error = {"message": message, "kind": "TOOL_REQUIREMENTS_NOT_MET", "can_retry": False}
        body = _not_run(result, "tool_requirements_not_met", message, {"error": error, "logs": []}, extras)
        return REQUIREMENT_MISSING_STATUS, body
    answer = _ran(result)
    if extras:
        answer["tool_name"] = result["tool_name"]
    return 200, conform(answer, "ExecuteToolResponse", extras=extras)


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
    status_code, answer = execution_response(result, extras=True)
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

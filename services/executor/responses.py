"""``ToolCallResponse`` dicts, built the way arcade-serve builds them."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from arcade_core.errors import ErrorKind
from arcade_core.output import output_factory
from arcade_core.schema import ToolCallOutput, ToolCallResponse


def tool_response(execution_id: str, start: float, output: ToolCallOutput) -> dict[str, Any]:
    """Wrap an output the way arcade-serve's ``BaseWorker.call_tool`` does."""
    response = ToolCallResponse(
        execution_id=execution_id,
        duration=(time.monotonic() - start) * 1000,
        finished_at=datetime.now().isoformat(),  # local time, no zone: as arcade-serve
        success=not output.error,
        output=output,
    )
    return response.model_dump(mode="json")


def failed_response(
    execution_id: str, start: float, kind: ErrorKind, message: str, *, can_retry: bool = False
) -> dict[str, Any]:
    """A ``ToolCallResponse`` for a call that failed outside the tool (transport, auth)."""
    return tool_response(
        execution_id, start, output_factory.fail(message=message, kind=kind, can_retry=can_retry)
    )

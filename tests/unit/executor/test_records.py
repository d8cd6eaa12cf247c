"""What the history keeps of a run, and which ``run_at`` a schedule takes (services/executor/records.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.executor import records
from services.executor.domain import Ran
from services.executor.scheduled import within_budget
from shared.contracts.execution import ExecuteTool, ExecutionResult
from shared.errors import BadRequest
from shared.runtime.config_tools import ExecutionLoggingConfig

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
DEFINITION = {"name": "Ping", "toolkit": {"name": "Hooli", "version": "1.2.0"}}


def result(value: object = "pong", outcome: str = "completed") -> ExecutionResult:
    return ExecutionResult(
        outcome=outcome,  # type: ignore[arg-type]
        id="te_1",
        execution_id="tc_1",
        tool_name="Hooli.Ping",
        duration=12.5,
        finished_at="2026-12-03T09:00:00Z",
        value=value,
        error=None if outcome == "completed" else {"kind": "TOOL_RUNTIME_FATAL", "message": "no"},
    )


class TestRunAt:
    def test_a_time_without_an_offset_is_utc_and_one_with_an_offset_is_converted(self):
        assert records.run_at_of("2026-12-03T09:00:05", NOW, 30) == NOW + timedelta(seconds=5)
        assert records.run_at_of("2026-12-03T10:00:05+01:00", NOW, 30) == NOW + timedelta(seconds=5)

    @pytest.mark.parametrize(
        ("value", "said"),
        [
            ("2026-12-03T09:00:00", "in the future"),
            ("2026-12-02T09:00:00Z", "in the future"),
            ("2027-01-03T09:00:01Z", "within 30 days"),
            ("tomorrow", "ISO 8601"),
        ],
    )
    def test_now_the_past_beyond_the_horizon_and_nonsense_are_refused(self, value, said):
        with pytest.raises(BadRequest, match=said):
            records.run_at_of(value, NOW, 30)


class TestWhatIsKept:
    def test_an_immediate_run_keeps_no_input_or_output_unless_configured(self):
        request = ExecuteTool(tool_name="Hooli.Ping", input={"q": 1}, user_id="u")
        record = records.immediate(
            request, Ran(result(), DEFINITION, "worker"), NOW, NOW, ExecutionLoggingConfig()
        )
        assert record.input is None and record.outputs_kept is False
        assert record.attempts[0].result is not None and record.attempts[0].result.value is None
        assert (record.status, record.toolkit_version, record.source) == ("success", "1.2.0", "worker")

    def test_kept_inputs_and_outputs_are_redacted(self):
        config = ExecutionLoggingConfig(include_inputs=True, include_outputs=True)
        request = ExecuteTool(tool_name="Hooli.Ping", input={"q": 1, "api_key": "sk-1"})
        ran = Ran(result({"access_token": "t", "n": 2}), DEFINITION, "in_process")
        record = records.immediate(request, ran, NOW, NOW, config)
        assert record.input == {"q": 1, "api_key": "[REDACTED]"}
        assert record.attempts[0].result is not None
        assert record.attempts[0].result.value == {"access_token": "[REDACTED]", "n": 2}

    def test_an_output_over_the_size_limit_is_replaced_by_a_note(self):
        kept = records.kept_result(result("x" * 100), keep=True, max_size=50)
        assert isinstance(kept.value, str) and "size limit" in kept.value
        assert records.kept_result(result("x" * 100), keep=True, max_size=200).value == "x" * 100

    def test_no_setting_keeps_an_output_too_big_for_a_bus_message(self):
        kept = records.kept_result(result("x" * (300 * 1024)), keep=True, max_size=10_485_760)
        assert isinstance(kept.value, str) and "size limit" in kept.value

    def test_a_failed_run_records_its_error_kind(self):
        request = ExecuteTool(tool_name="Hooli.Ping")
        ran = Ran(result(None, "failed"), DEFINITION, "in_process")
        record = records.immediate(request, ran, NOW, NOW, ExecutionLoggingConfig())
        assert (record.status, record.error_kind) == ("failed", "TOOL_RUNTIME_FATAL")


class TestPagesFitABusMessage:
    def test_past_the_budget_items_lose_their_outputs_but_keep_everything_else(self):
        big = {"result": {"value": "x" * (300 * 1024), "error": None, "logs": []}, "success": True}
        items = [{"id": f"te_{i}", "attempts": [big]} for i in range(4)]
        kept = within_budget(items)
        assert [item["id"] for item in kept] == ["te_0", "te_1", "te_2", "te_3"]
        values = [item["attempts"][0]["result"]["value"] for item in kept]
        assert values[:2] == ["x" * (300 * 1024)] * 2
        assert all("fewer items" in value for value in values[2:])
        assert len(json.dumps(kept)) < 1024 * 1024

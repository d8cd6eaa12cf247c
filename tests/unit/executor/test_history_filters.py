"""Which index answers a history query and what is left to match (services/executor/history.py)."""

from services.executor.history import _matches, query_index
from shared.contracts.execution import ExecutionQuery, ExecutionRecord


def _record(status: str, user: str = "alice") -> ExecutionRecord:
    return ExecutionRecord(
        id="ex_1",
        execution_id="ex_1",
        project="default",
        execution_type="immediate",
        status=status,
        tool_name="Hooli.Ping",
        toolkit_name="Hooli",
        user_id=user,
        created_at="2026-12-03T09:00:00Z",
        updated_at="2026-12-03T09:00:00Z",
    )


def test_a_status_is_matched_among_the_records_of_the_narrowest_index():
    index, rest = query_index("vk", ExecutionQuery(user_id="alice", status="failed"))
    assert index.startswith("vk:execs:user:") and rest.status == "failed"
    assert _matches(_record("failed"), rest) and not _matches(_record("success"), rest)


def test_a_status_with_a_tool_reads_the_tools_index_and_keeps_the_user_and_the_status_to_match():
    index, rest = query_index("vk", ExecutionQuery(tool_name="Hooli.Ping", user_id="bob", status="success"))
    assert index == "vk:execs:tool:Hooli.Ping"
    assert _matches(_record("success", "bob"), rest)
    assert not _matches(_record("success", "alice"), rest) and not _matches(_record("failed", "bob"), rest)

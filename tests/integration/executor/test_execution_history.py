"""``execution_logging`` changes what the history keeps in a real Valkey (services/executor/history.py):
``enabled`` decides whether immediate executions are recorded, ``retention_days`` how long a record
lives, and a scheduled run is started at most once.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from services.executor import records
from services.executor.domain import Ran
from services.executor.history import ExecutionHistory, execution_keys
from shared.contracts.common import utcnow
from shared.contracts.execution import ExecuteTool, ExecutionQuery, ExecutionResult
from shared.runtime.config_tools import ExecutionLoggingConfig
from shared.runtime.crypto import Cipher, RootKey
from shared.tokens.store import project_namespace

pytestmark = pytest.mark.integration

CIPHER = Cipher([RootKey("k1", "execution-history-test-key-" + "x" * 20, default=True)])
DEFINITION = {"name": "Ping", "toolkit": {"name": "Hooli", "version": "1.0.0"}}
DAY_S = 86_400
PREFIX = f"vktest{secrets.token_hex(4)}"


def history(redis: Redis, **logging: object) -> ExecutionHistory:
    config = ExecutionLoggingConfig.model_validate(logging)
    return ExecutionHistory(redis, CIPHER, config, horizon_days=2, prefix=PREFIX)


def ran() -> Ran:
    result = ExecutionResult(
        outcome="completed",
        id="te_x",
        execution_id="tc_x",
        tool_name="Hooli.Ping",
        duration=1.0,
        finished_at="2026-12-03T09:00:00Z",
        value="pong",
    )
    return Ran(result, DEFINITION, "in_process")


async def the_only_record_ttl(redis: Redis, kept: ExecutionHistory) -> int:
    [record], total = await kept.page(ExecutionQuery())
    assert total == 1
    return int(await redis.ttl(execution_keys(project_namespace(PREFIX, "default"), record.id).record))


@pytest.fixture(autouse=True)
async def empty(redis: Redis) -> None:
    """Each test starts with no history under the module's prefix."""
    keys = [key async for key in redis.scan_iter(match=f"{PREFIX}:*")]
    if keys:
        await redis.delete(*keys)


async def test_with_enabled_false_an_immediate_run_leaves_no_record(redis):
    counted = []
    for kept in (history(redis, enabled=False), history(redis, enabled=True)):
        await kept.ran(ExecuteTool(tool_name="Hooli.Ping", user_id="u"), ran(), utcnow())
        counted.append((await kept.page(ExecutionQuery()))[1])
    assert counted == [0, 1]


@pytest.mark.parametrize("days", [0.5, 3])
async def test_an_immediate_record_expires_retention_days_after_it_was_written(redis, days):
    kept = history(redis, retention_days=days)
    await kept.ran(ExecuteTool(tool_name="Hooli.Ping", user_id="u"), ran(), utcnow())
    ttl = await the_only_record_ttl(redis, kept)
    assert days * DAY_S - 60 <= ttl <= days * DAY_S


async def test_a_scheduled_run_is_kept_until_its_time_plus_retention_then_retention_after_it_ends(redis):
    kept = history(redis, retention_days=1)
    request = ExecuteTool(tool_name="Hooli.Ping", user_id="u")
    run_at = utcnow() + timedelta(hours=6)
    record = records.scheduled(request, DEFINITION, run_at, utcnow())
    await kept.schedule(record, request, run_at)
    pending_ttl = await the_only_record_ttl(redis, kept)
    assert DAY_S + 6 * 3600 - 60 <= pending_ttl <= DAY_S + 6 * 3600

    attempt = records.attempt_of(ran(), utcnow(), utcnow(), max_size=1024)
    await kept.finish(records.finished(record, attempt, utcnow(), utcnow()))
    assert DAY_S - 60 <= await the_only_record_ttl(redis, kept) <= DAY_S


async def test_a_scheduled_run_is_begun_once_and_a_second_begin_is_told_not_to_run_it(redis):
    kept = history(redis)
    request = ExecuteTool(tool_name="Hooli.Ping", user_id="u", input={"q": 1})
    run_at = utcnow() + timedelta(minutes=1)
    record = records.scheduled(request, DEFINITION, run_at, utcnow())
    await kept.schedule(record, request, run_at)
    first = await kept.begin("default", record.id)
    second = await kept.begin("default", record.id)
    assert first.first and first.request == request
    assert not second.first


async def test_a_record_is_listed_in_its_indexes_which_expire_and_drop_entries_past_their_life(redis):
    kept = history(redis, retention_days=1)
    ns = project_namespace(PREFIX, "default")
    life = DAY_S + 2 * DAY_S  # the retention plus the horizon
    stale = utcnow().timestamp() - life - 60
    for index in (f"{ns}:execs", f"{ns}:execs:tool:Hooli.Ping"):
        await redis.zadd(index, {"te_stale": stale})
    await kept.ran(ExecuteTool(tool_name="Hooli.Ping", user_id="u"), ran(), utcnow())
    indexes = [f"{ns}:execs", f"{ns}:execs:tool:Hooli.Ping", (await redis.keys(f"{ns}:execs:user:*"))[0]]
    listed = [await redis.zrange(index, 0, -1) for index in indexes]
    ttls = [await redis.ttl(index) for index in indexes]
    assert listed == [[b"te_x"]] * 3
    assert all(life - 60 <= ttl <= life for ttl in ttls)
    assert not await redis.exists(f"{ns}:execs:scheduled")

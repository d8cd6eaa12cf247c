"""Scheduled executions and the execution history, through arcadepy and the admin API, on real processes.

One engine serves the module: the hooli provider and toolkit, a second project's admin key, the
history keeping inputs and outputs, and executors that look for due runs every 0.1 s, three at a
time (so two replicas share a burst).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arcadepy import AsyncArcade

from tests.e2e.webhook_support import Receiver, RunningReceiver, endpoint, until
from tests.support.auth_flows import new_user
from tests.support.client_stack import hooli_engine
from tests.support.engine import Engine
from tests.support.oauth_server import OAuthServer

pytestmark = pytest.mark.e2e

OTHER_PROJECT_KEY = "vk_test_admin_of_b"
DONE = ("success", "failed")
HOOKS = Receiver()


def tweak(config: dict[str, Any]) -> None:
    config["api"]["keys"] = [{"key": OTHER_PROJECT_KEY, "project": "b", "role": "admin"}]
    hook = endpoint("runs", HOOKS.url("/runs"), ["tool.execution.completed"])
    config["webhooks"] = {"allow_private_targets": True, "endpoints": [hook]}
    config["tools"]["scheduled"] = {"poll_seconds": 0.1, "concurrency": 3, "horizon_days": 2}
    config["execution_logging"] = {"include_inputs": True, "include_outputs": True}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, nats_url, redis_url) -> Iterator[tuple[Engine, OAuthServer]]:
    home = tmp_path_factory.mktemp("scheduled")
    with RunningReceiver(HOOKS), hooli_engine(home, nats_url=nats_url, redis_url=redis_url, tweak=tweak) as s:
        yield s


@pytest.fixture
def client(stack) -> AsyncArcade:
    engine = stack[0]
    return AsyncArcade(base_url=engine.base_url, api_key=engine.api_key)


def ahead(seconds: float) -> str:
    """A ``run_at`` as Arcade documents it: ``YYYY-MM-DDTHH:MM:SS``, UTC."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


async def finished(client: AsyncArcade, execution_id: str, timeout: float = 40) -> Any:
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen["run"] = await client.tools.scheduled.get(execution_id)
        return seen["run"].execution_status in DONE

    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"{execution_id} never finished"
        await asyncio.sleep(0.1)
    return seen["run"]


async def call(
    engine: Engine, method: str, path: str, key: str | None = None, **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or engine.api_key}"}
    async with httpx.AsyncClient(
        base_url=engine.base_url, headers=headers, timeout=30, trust_env=False
    ) as http:
        return await http.request(method, path, **kwargs)


async def history(engine: Engine, key: str | None = None, **params: Any) -> dict[str, Any]:
    answer = await call(engine, "GET", "/v1/admin/executions", key, params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def runs_logged(engine: Engine) -> Counter[tuple[str, str]]:
    """(executor process, scheduled run id) for each run an executor logged as done."""
    counted: Counter[tuple[str, str]] = Counter()
    for path in (engine.home / "logs").glob("executor*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if '"scheduled.ran"' in line:
                counted[(path.stem, json.loads(line)["id"])] += 1
    return counted


class TestScheduling:
    async def test_a_run_two_seconds_ahead_is_pending_survives_an_executor_restart_then_shows_its_output(
        self, stack, client
    ):
        engine = stack[0]
        user = new_user("sched")
        scheduled = await client.tools.execute(
            tool_name="Hooli.Nap", input={"seconds": 0.01}, user_id=user, run_at=ahead(3)
        )
        assert (scheduled.execution_type, scheduled.status, scheduled.success) == (
            "scheduled",
            "pending",
            True,
        )

        page = await client.tools.scheduled.list(limit=100)
        mine = [item for item in page.items if item.id == scheduled.id]
        assert [(i.execution_status, i.tool_name, i.user_id) for i in mine] == [
            ("pending", "Hooli.Nap", user)
        ]

        await asyncio.to_thread(engine.restart_service, "executor")

        run = await finished(client, scheduled.id)
        assert run.execution_status == "success" and run.input == {"seconds": 0.01}
        [attempt] = run.attempts or []
        assert attempt.success and attempt.output is not None and attempt.output.value == 0.01
        assert run.run_at and run.started_at  # as instants: '…25.02Z' is after '…25Z', not before as text
        assert datetime.fromisoformat(run.started_at) >= datetime.fromisoformat(run.run_at)

    async def test_a_run_whose_user_has_not_authorized_fails_with_the_authorization_url(self, stack, client):
        oauth = stack[1]
        user = new_user("sched-noauth")
        scheduled = await client.tools.execute(
            tool_name="Hooli.ReticulateSplines", user_id=user, run_at=ahead(1)
        )
        run = await finished(client, scheduled.id)
        [attempt] = run.attempts or []
        assert run.execution_status == "failed" and not attempt.success
        assert attempt.output and attempt.output.authorization and attempt.output.authorization.url
        assert attempt.output.authorization.url.startswith(oauth.authorize_endpoint)
        assert attempt.output.error and attempt.output.error.kind == "TOOL_REQUIREMENTS_NOT_MET"

        def completed() -> list[dict[str, Any]]:
            events = [json.loads(r.body) for r in HOOKS.on("/runs")]
            return [e["data"] for e in events if e["data"]["user_id"] == user]

        await until(lambda: bool(completed()), what="the run's tool.execution.completed")
        [event] = completed()
        assert (event["tool_name"], event["status"], event["success"]) == (
            "Hooli.ReticulateSplines",
            "failed",
            False,
        )

    @pytest.mark.parametrize(
        ("run_at", "said"),
        [(ahead(-60), "in the future"), (ahead(3 * 86_400), "within 2 days"), ("next tuesday", "ISO 8601")],
    )
    async def test_a_run_at_in_the_past_beyond_the_horizon_or_unreadable_is_a_400(self, stack, run_at, said):
        answer = await call(
            stack[0], "POST", "/v1/tools/execute", json={"tool_name": "Hooli.Ping", "run_at": run_at}
        )
        assert answer.status_code == 400 and answer.json()["name"] == "malformed_request"
        assert said in answer.json()["message"]

    async def test_a_tool_that_needs_authorization_cannot_be_scheduled_without_a_user(self, stack):
        answer = await call(
            stack[0],
            "POST",
            "/v1/tools/execute",
            json={"tool_name": "Hooli.ReticulateSplines", "run_at": ahead(60)},
        )
        assert answer.status_code == 400 and "user_id" in answer.json()["message"]


class TestHistory:
    async def test_it_lists_immediate_and_scheduled_runs_and_another_projects_key_sees_none(
        self, stack, client
    ):
        engine = stack[0]
        user = new_user("history")
        now = await client.tools.execute(tool_name="Hooli.Nap", input={"seconds": 0.02}, user_id=user)
        later = await client.tools.execute(tool_name="Hooli.Ping", user_id=user, run_at=ahead(1))
        await finished(client, later.id)

        page = await history(engine, user_id=user)
        by_type = {item["execution_type"]: item for item in page["items"]}
        assert page["total_count"] == 2 and set(by_type) == {"immediate", "scheduled"}
        assert by_type["immediate"]["id"] == now.id and by_type["scheduled"]["id"] == later.id
        immediate = by_type["immediate"]
        assert (immediate["tool_name"], immediate["execution_status"], immediate["source"]) == (
            "Hooli.Nap",
            "success",
            "in_process",
        )
        assert immediate["input"] == {"seconds": 0.02} and immediate["output"]["value"] == 0.02
        assert (await history(engine, user_id=user, tool="Hooli.Ping"))["total_count"] == 1

        assert (await history(engine, key=OTHER_PROJECT_KEY, user_id=user))["total_count"] == 0
        assert later.id not in json.dumps(await history(engine, key=OTHER_PROJECT_KEY, limit=100))
        answer = await call(engine, "GET", f"/v1/scheduled_tools/{later.id}", OTHER_PROJECT_KEY)
        assert answer.status_code == 404

    async def test_tools_scheduled_list_filters_by_tool_newest_first(self, stack, client):
        user = new_user("filter")
        first = await client.tools.execute(tool_name="Hooli.Ping", user_id=user, run_at=ahead(600))
        second = await client.tools.execute(tool_name="Hooli.Ping", user_id=user, run_at=ahead(600))
        await client.tools.execute(
            tool_name="Hooli.Nap", input={"seconds": 0}, user_id=user, run_at=ahead(600)
        )
        page = await client.tools.scheduled.list(limit=2, extra_query={"tool_name": "Hooli_Ping"})
        assert [item.id for item in page.items] == [second.id, first.id]
        assert all(item.tool_name == "Hooli.Ping" for item in page.items)


class TestReplicas:
    async def test_two_executors_run_each_of_a_burst_of_scheduled_runs_exactly_once(self, stack, client):
        engine = stack[0]
        name = engine.start_service("executor", replica=2)
        await until(lambda: "scheduled.runner_started" in engine.log_path(name).read_text(), what="replica 2")
        try:
            user, run_at = new_user("burst"), ahead(2)
            burst = [
                await client.tools.execute(
                    tool_name="Hooli.Nap", input={"seconds": 0.3}, user_id=user, run_at=run_at
                )
                for _ in range(12)
            ]
            runs = [await finished(client, s.id) for s in burst]
        finally:
            await asyncio.to_thread(engine.stop_service, name)
        assert [len(r.attempts or []) for r in runs] == [1] * 12
        assert all(r.execution_status == "success" for r in runs)
        logged = {key: n for key, n in runs_logged(engine).items() if key[1] in {s.id for s in burst}}
        assert sorted(run_id for _, run_id in logged) == sorted(s.id for s in burst)
        assert set(logged.values()) == {1}
        assert {process for process, _ in logged} == {"executor", "executor-2"}

"""Dead letters are a project's through their endpoint: another project lists, replays and deletes none."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.webhooks.admin import WebhookAdmin
from services.webhooks.domain import Endpoint
from shared.contracts.webhooks import DeadLetterQuery, DeadLetterRef, ReplayDeadLetters
from shared.errors import NotFound
from shared.runtime.config import WebhooksConfig

HOOKS = [
    replace(Endpoint("hook-a", "http://127.0.0.1:9/", ["*"], True, "api", (b"k" * 32,)), project="a"),
    replace(Endpoint("hook-b", "http://127.0.0.1:9/", ["*"], True, "api", (b"k" * 32,)), project="b"),
]


def dead(dead_id: str, endpoint_id: str) -> dict[str, Any]:
    return {
        "id": dead_id,
        "endpoint_id": endpoint_id,
        "event_id": f"evt-{dead_id}",
        "event_type": "connection.revoked",
        "attempts": 3,
        "first_queued_at": 0.0,
        "dead_at": 1.0,
        "body": "{}",
    }


class Endpoints:
    async def of_project(self, project: str) -> list[Endpoint]:
        return [e for e in HOOKS if e.project == project]


class Dead:
    def __init__(self) -> None:
        self.records = {r["id"]: r for r in (dead("dl-a", "hook-a"), dead("dl-b", "hook-b"))}

    async def all(self) -> list[dict[str, Any]]:
        return list(self.records.values())

    async def get(self, dead_id: str) -> dict[str, Any]:
        if dead_id not in self.records:
            raise NotFound(dead_id)
        return self.records[dead_id]

    async def remove(self, dead_id: str) -> None:
        self.records.pop(dead_id, None)


class Queue:
    def __init__(self) -> None:
        self.put_ids: list[str] = []

    async def put(self, delivery: Any, *, msg_id: str | None = None) -> None:
        self.put_ids.append(delivery.endpoint_id)


def admin() -> tuple[WebhookAdmin, Dead, Queue]:
    archive, queue = Dead(), Queue()
    return WebhookAdmin(Endpoints(), archive, queue, WebhooksConfig(), resolver=None), archive, queue  # type: ignore[arg-type]


async def test_a_project_lists_only_its_endpoints_dead_letters():
    webhooks, _, _ = admin()
    page = await webhooks.list_dead_letters(DeadLetterQuery(project="b"))
    assert [d.id for d in page.items] == ["dl-b"] and page.total_count == 1


async def test_another_projects_dead_letter_is_not_found_to_replay_or_delete():
    webhooks, archive, queue = admin()
    for act in (webhooks.replay, webhooks.delete_dead_letter):
        with pytest.raises(NotFound):
            await act(DeadLetterRef(id="dl-a", project="b"))
    assert "dl-a" in archive.records and queue.put_ids == []


async def test_replaying_everything_replays_only_the_projects_own():
    webhooks, archive, queue = admin()
    assert (await webhooks.replay_all(ReplayDeadLetters(project="a"))).replayed == 1
    assert queue.put_ids == ["hook-a"] and set(archive.records) == {"dl-b"}

"""The webhooks service's log of recent attempts per endpoint (services/webhooks/delivery_log.py)
in a real Valkey: noted in process, written in one flush, read back per endpoint and project."""

from __future__ import annotations

import secrets

import pytest

from services.webhooks.delivery_log import KEEP, DeliveryLog
from services.webhooks.domain import Delivery
from services.webhooks.sender import Outcome
from shared.contracts.webhooks import RecentDeliveriesQuery

pytestmark = pytest.mark.integration


def _delivery(endpoint: str, n: int) -> Delivery:
    return Delivery(endpoint, f"evt_{n}", "token.refreshed", '{"secret":"body"}')


async def test_attempts_are_written_at_the_flush_newest_first_and_without_their_body(redis):
    log = DeliveryLog(redis, prefix=f"dl{secrets.token_hex(3)}")
    log.note("acme", _delivery("ep1", 1), Outcome(status=503), attempt=1)
    log.note("acme", _delivery("ep1", 1), Outcome(error="ConnectError"), attempt=2)
    log.note("acme", _delivery("ep2", 2), Outcome(status=204), attempt=1)
    query = RecentDeliveriesQuery(project="acme", endpoint_ids=["ep1", "ep2"])
    assert (await log.recent(query)).items == {"ep1": [], "ep2": []}  # nothing before the flush
    assert await log.flush() == 3
    found = (await log.recent(query)).items
    assert [(a["attempt"], a["status"], a["error"], a["ok"]) for a in found["ep1"]] == [
        (2, None, "ConnectError", False),
        (1, 503, None, False),
    ]
    assert [(a["event_id"], a["ok"]) for a in found["ep2"]] == [("evt_2", True)]
    assert "body" not in str(found) and "secret" not in str(found)


async def test_each_endpoint_keeps_its_latest_attempts_and_other_projects_see_none(redis):
    log = DeliveryLog(redis, prefix=f"dl{secrets.token_hex(3)}")
    for n in range(KEEP + 5):
        log.note("acme", _delivery("ep1", n), Outcome(status=204), attempt=1)
    await log.flush()
    kept = (await log.recent(RecentDeliveriesQuery(project="acme", endpoint_ids=["ep1"], limit=20))).items
    assert [a["event_id"] for a in kept["ep1"]] == [f"evt_{n}" for n in range(KEEP + 4, 4, -1)]
    other = await log.recent(RecentDeliveriesQuery(project="globex", endpoint_ids=["ep1"]))
    assert other.items == {"ep1": []}


async def test_a_stop_writes_what_is_left(redis):
    log = DeliveryLog(redis, prefix=f"dl{secrets.token_hex(3)}", interval=3600)
    log.start()
    log.note("acme", _delivery("ep1", 1), Outcome(status=204), attempt=1)
    await log.stop()
    found = await log.recent(RecentDeliveriesQuery(project="acme", endpoint_ids=["ep1"]))
    assert len(found.items["ep1"]) == 1

"""The webhooks service's event counts on a real Valkey: per project, type and hour."""

from datetime import UTC, datetime, timedelta

import pytest

from services.webhooks.event_counts import KEEP_SECONDS, EventCounter
from shared.contracts.webhooks import EventCountsQuery, RecentFailuresQuery

pytestmark = pytest.mark.integration


def event(event_type: str, **data: str) -> dict[str, object]:
    return {"id": f"evt_{event_type}", "type": event_type, "timestamp": "t", "data": data}


async def test_events_are_counted_per_project_type_and_hour_oldest_hour_first(redis, request):
    prefix = f"t{abs(hash(request.node.nodeid)) % 10**8}"
    now = [datetime(2026, 12, 3, 5, 59, tzinfo=UTC)]
    counter = EventCounter(redis, prefix=prefix, clock=lambda: now[0])
    await counter.record("a", event("authorization.completed"))
    now[0] += timedelta(minutes=2)  # the next hour
    for event_type in ("authorization.completed", "authorization.completed", "token.refreshed"):
        await counter.record("a", event(event_type))
    await counter.record("b", event("authorization.failed"))

    counts = await counter.counts(EventCountsQuery(project="a", hours=3))
    assert counts.hours == [f"2026-12-03T0{h}:00:00+00:00" for h in (4, 5, 6)]
    assert counts.counts == {"authorization.completed": [0, 1, 2], "token.refreshed": [0, 0, 1]}
    assert (await counter.counts(EventCountsQuery(project="b", hours=1))).counts == {
        "authorization.failed": [1]
    }
    assert 0 < await redis.ttl(f"{prefix}:webhooks:counts:a:2026120306") <= KEEP_SECONDS


async def test_failures_are_kept_newest_first_with_their_reasons_and_other_events_are_not(redis, request):
    prefix = f"t{abs(hash(request.node.nodeid)) % 10**8}"
    counter = EventCounter(redis, prefix=prefix)
    await counter.record("a", event("authorization.failed", reason="access_denied", user_id="u1"))
    await counter.record("a", event("authorization.completed"))
    await counter.record("a", event("token.refresh_failed", reason="invalid_grant"))
    await counter.record("b", event("authorization.failed", reason="elsewhere"))
    items = (await counter.failures(RecentFailuresQuery(project="a"))).items
    assert [(i["type"], i["data"]["reason"]) for i in items] == [
        ("token.refresh_failed", "invalid_grant"),
        ("authorization.failed", "access_denied"),
    ]

"""The token_refresher's counts per project and hour (services/token_refresher/refresh_counts.py)
in a real Valkey: noted in process, written at the flush, read as hourly series."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from services.token_refresher.refresh_counts import RefreshCounts
from shared.contracts.webhooks import EventCountsQuery

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_refreshes_are_counted_by_hour_and_project_once_flushed(redis):
    clock = Clock()
    counts = RefreshCounts(redis, prefix=f"rc{secrets.token_hex(3)}", clock=clock)
    counts.note("acme", "refreshed", 0.1)
    counts.note("acme", "retrying", 600.0)
    clock.now += timedelta(hours=1)
    counts.note("acme", "refreshed", 120.0)
    counts.note("globex", "refreshed", None)
    before = await counts.counts(EventCountsQuery(project="acme", hours=2))
    assert set(map(sum, before.counts.values())) == {0}  # nothing before the flush
    assert await counts.flush() == 10  # acme: 3 started, 2 done, 1 failed, 2 late; globex: 2
    found = await counts.counts(EventCountsQuery(project="acme", hours=2))
    assert found.hours == ["2026-12-03T09:00:00+00:00", "2026-12-03T10:00:00+00:00"]
    assert found.counts == {
        "refresh.started": [2, 1],
        "refresh.done": [1, 1],
        "refresh.failed": [1, 0],
        "refresh.late": [1, 1],
    }
    other = await counts.counts(EventCountsQuery(project="globex", hours=1))
    assert other.counts["refresh.started"] == [1]

"""How the console shapes what the services answer: the overview's series, the webhooks page's
attempts and the pager of the executions page."""

from services.gateway.console.data import attempt_rows, overview_series, pager
from shared.contracts.webhooks import EventCounts, RecentDeliveries

HOURS = [f"2026-12-03T0{h}:00:00+00:00" for h in range(3)]


def test_refreshes_started_and_late_stand_beside_the_refresh_events_on_the_events_hours():
    events = EventCounts(
        hours=HOURS,
        counts={
            "token.refreshed": [1, 0, 2],
            "authorization.completed": [0, 1, 0],
            "tool.executed": [3, 3, 3],
        },
    )
    # The refresher's clock is an hour on: its first hour is not on the axis, its last is not counted.
    refreshes = EventCounts(
        hours=[*HOURS[1:], "2026-12-03T03:00:00+00:00"],
        counts={"refresh.started": [4, 5, 6], "refresh.late": [0, 1, 0], "refresh.done": [4, 5, 6]},
    )
    series = overview_series(events, refreshes)
    assert [name for name, _, _ in series] == [
        "authorization.completed",
        "refresh.started",
        "token.refreshed",
        "refresh.late",
        "tool.executed",
    ]
    values = {name: v for name, hours, v in series if hours == HOURS}
    assert values["refresh.started"] == [0, 4, 5] and values["refresh.late"] == [0, 0, 1]


def test_authorizations_started_come_first_beside_the_completed_and_failed_ones():
    events = EventCounts(
        hours=HOURS, counts={"authorization.failed": [0, 0, 1], "authorization.completed": [1, 1, 0]}
    )
    started = EventCounts(hours=HOURS, counts={"authorization.started": [2, 1, 1]})
    series = overview_series(events, None, started)
    assert [(n, v) for n, _, v in series] == [
        ("authorization.started", [2, 1, 1]),
        ("authorization.completed", [1, 1, 0]),
        ("authorization.failed", [0, 0, 1]),
    ]


def test_without_the_refreshers_answer_the_events_alone_and_without_events_the_refreshes_alone():
    events = EventCounts(hours=HOURS, counts={"token.refreshed": [1, 0, 2]})
    refreshes = EventCounts(hours=HOURS, counts={"refresh.started": [1, 1, 1], "refresh.late": [0, 0, 0]})
    assert [n for n, _, _ in overview_series(events, None)] == ["token.refreshed"]
    assert [(n, v) for n, _, v in overview_series(None, refreshes)] == [
        ("refresh.started", [1, 1, 1]),
        ("refresh.late", [0, 0, 0]),
    ]
    assert overview_series(None, None) == []


def test_the_attempts_of_every_endpoint_read_as_one_table_newest_first():
    recent = RecentDeliveries(
        items={
            "ep1": [{"event_type": "a", "attempt": 2, "status": 503, "ok": False, "at": 1764745200.0}],
            "ep2": [{"event_type": "b", "attempt": 1, "status": 204, "ok": True, "at": 1764748800.5}],
        }
    )
    rows = attempt_rows(recent)
    assert [(r["endpoint_id"], r["at"]) for r in rows] == [
        ("ep2", "2025-12-03T08:00:00.500000+00:00"),
        ("ep1", "2025-12-03T07:00:00+00:00"),
    ]


def test_the_pager_keeps_the_filters_and_offers_only_the_pages_there_are():
    assert pager(0, 10, "user_id=a&tool=&status=failed") == {"previous": None, "next": None}
    assert pager(25, 60, "status=failed") == {
        "previous": "?status=failed&offset=0",
        "next": "?status=failed&offset=50",
    }
    assert pager(10, 30, "q")["previous"] == "?q&offset=0"

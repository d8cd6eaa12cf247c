"""Hourly buckets of the counts the console charts (refreshes, webhook events, authorizations
started): each service keeps one Redis hash per project and hour, named by the hour's start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def hour_of(at: datetime) -> datetime:
    """The start of ``at``'s hour, in UTC."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def last_hours(now: datetime, count: int) -> list[datetime]:
    """The starts of the ``count`` hours ending with ``now``'s, oldest first."""
    current = hour_of(now)
    return [current - timedelta(hours=n) for n in range(count - 1, -1, -1)]

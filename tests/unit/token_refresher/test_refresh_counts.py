"""What each refresh decision adds to the console's refresh series (token_refresher/refresh_counts.py)."""

import pytest

from services.token_refresher.refresh_counts import LATE_SECONDS, counted


@pytest.mark.parametrize(
    ("outcome", "lateness", "series"),
    [
        ("refreshed", 0.2, ["started", "done"]),
        ("refreshed_elsewhere", None, ["started", "done"]),
        ("reauthorization_required", 1.0, ["started", "failed"]),
        ("retrying", LATE_SECONDS + 1, ["started", "failed", "late"]),
        ("refreshed", LATE_SECONDS, ["started", "done"]),
        ("fresh", LATE_SECONDS * 10, []),
    ],
)
def test_a_refresh_made_is_started_and_done_or_failed_and_late_past_a_minute(outcome, lateness, series):
    assert counted(outcome, lateness) == series

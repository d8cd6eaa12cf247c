"""Pure parts of the console: where sign-in may send the browser, and the server-drawn charts."""

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.console.charts import bars, columns
from services.gateway.console.sign_in import local_path
from services.gateway.console.web import set_session, when, when_exactly
from services.gateway.settings import GatewaySettings


@pytest.mark.parametrize(
    ("asked", "followed"),
    [
        ("/console/connections?user_id=a", "/console/connections?user_id=a"),
        ("/console", "/console"),
        ("https://evil.example/console", "/console"),
        ("//evil.example/console", "/console"),
        ("/v1/tools", "/console"),
        (None, "/console"),
    ],
)
def test_after_sign_in_only_a_console_path_is_followed(asked, followed):
    assert local_path(asked) == followed


def test_bars_scale_to_the_largest_escape_labels_and_show_an_unanswered_value_as_n_a():
    svg = bars("Totals <now>", {"a<b": 10, "half": 5, "gone": None})
    assert 'width="320"' in svg and 'width="160"' in svg
    assert "a&lt;b" in svg and "Totals &lt;now&gt;" in svg and ">n/a<" in svg


def test_columns_draw_one_column_an_hour_and_name_the_total():
    hours = [f"2026-12-03T0{h}:00:00+00:00" for h in range(3)]
    svg = columns("token.refreshed", hours, [0, 2, 4])
    assert svg.count("<rect") == 3 and "6 in 3 hours" in svg and "02:00 UTC: 4" in svg


@pytest.mark.parametrize(
    ("public_url", "secure"), [("https://vk.example", True), ("http://127.0.0.1:9099", False)]
)
def test_the_session_cookie_is_secure_exactly_when_the_public_url_is_https(public_url, secure):
    app = Starlette()
    app.state.gateway = GatewaySettings(host="h", port=1, public_url=public_url, api_keys=[])
    request = Request({"type": "http", "app": app, "headers": [], "method": "GET", "path": "/"})
    response = Response()
    set_session(response, request, "token", 60)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and ("secure" in cookie) == secure


def test_times_read_as_minutes_in_utc_and_anything_else_as_it_is():
    assert when("2026-12-03T06:30:11.042587Z") == "2026-12-03 06:30 UTC"
    assert when("2026-12-03T08:30:00+02:00") == "2026-12-03 06:30 UTC"
    assert (when(None), when("soon")) == ("", "soon")


def test_an_attempts_time_reads_to_the_second():
    assert when_exactly("2026-12-03T06:30:11.742587+00:00") == "2026-12-03 06:30:11 UTC"
    assert (when_exactly(None), when_exactly("soon")) == ("", "soon")

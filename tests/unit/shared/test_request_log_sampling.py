"""``VALETKEY_REQUEST_LOG_SAMPLE``: every request's INFO line by default; with N, one answered
request's line in N, and every failed request's line, each line as it always was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from services.gateway.middleware import RequestLog
from shared.bus.messaging import answer
from shared.errors import NotFound
from shared.runtime.logging import configure_logging, sample_request_lines
from shared.runtime.settings import load_runtime_settings


class Ask(BaseModel):
    fail: bool = False


async def _use_case(request: Ask) -> None:
    if request.fail:
        raise NotFound("nothing here")


def _status_app(status: int) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def _http(status: int) -> None:
    scope = {"type": "http", "method": "GET", "path": "/v1/auth/status", "query_string": b"id=ac_1"}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(_: Any) -> None:
        return None

    await RequestLog(_status_app(status))(scope, receive, send)


def _events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().err.strip().splitlines() if line]


@pytest.fixture
def logging_json() -> Iterator[None]:
    configure_logging(service="test", json_output=True)
    yield
    sample_request_lines(1)


async def test_every_request_is_logged_by_default(logging_json, capsys):
    for _ in range(4):
        await _http(200)
        await answer(Ask, b"{}", _use_case)
    events = [e["event"] for e in _events(capsys)]
    assert events.count("http.request") == 4 and events.count("rpc.handled") == 4


async def test_with_a_sample_one_answered_request_in_n_is_logged_and_every_failed_one(logging_json, capsys):
    sample_request_lines(3)
    for _ in range(6):
        await _http(200)
    for status in (404, 429, 500):
        await _http(status)
    lines = [e for e in _events(capsys) if e["event"] == "http.request"]
    assert [line["status"] for line in lines] == [200, 200, 404, 429, 500]
    assert {k: lines[0][k] for k in ("method", "path", "query")} == {
        "method": "GET",
        "path": "/v1/auth/status",
        "query": "id=ac_1",
    }


async def test_a_sampled_service_still_logs_every_failed_request(logging_json, capsys):
    sample_request_lines(4)
    for _ in range(8):
        await answer(Ask, b"{}", _use_case)
    for _ in range(3):
        await answer(Ask, b'{"fail":true}', _use_case)
    events = [e["event"] for e in _events(capsys)]
    assert events.count("rpc.handled") == 2 and events.count("rpc.failed") == 3


def test_the_sample_is_read_from_the_environment_and_defaults_to_every_line():
    assert load_runtime_settings({}).request_log_sample == 1
    assert load_runtime_settings({"VALETKEY_REQUEST_LOG_SAMPLE": "10"}).request_log_sample == 10

"""VALETKEY_CHECK_RESPONSES: each JSON answer is checked against the gateway's own document; one
that does not fit is sent unchanged and logged with field names, never a value."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send
from structlog.testing import capture_logs

from services.gateway.response_check import ResponseCheck

DOCUMENT = {
    "paths": {
        "/v1/things/{id}": {
            "get": {
                "responses": {
                    "200": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}
                    }
                }
            }
        }
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "note": {"type": "string", "nullable": True}},
                "required": ["id"],
                "additionalProperties": False,
            },
            "Error": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "message": {"type": "string"}},
                "required": ["name", "message"],
                "additionalProperties": False,
            },
        }
    },
}


class Route:
    path = "/v1/things/{id}"


def answering(status: int, body: Any, content_type: bytes = b"application/json") -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = Route()
        raw = json.dumps(body).encode()
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]}
        )
        await send({"type": "http.response.body", "body": raw[:5], "more_body": True})
        await send({"type": "http.response.body", "body": raw[5:]})

    return app


async def call(
    app: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[list[Message], list[dict[str, Any]]]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/v1/things/t1", "headers": headers or []}
    with capture_logs() as logs:
        await ResponseCheck(app, lambda: DOCUMENT)(scope, None, send)  # type: ignore[arg-type]
    return sent, [line for line in logs if line["event"] == "wire.response_unfit"]


async def test_an_answer_that_fits_is_sent_and_nothing_is_logged():
    sent, unfit = await call(answering(200, {"id": "t1", "note": None}))
    assert unfit == []
    assert b"".join(m.get("body", b"") for m in sent) == b'{"id": "t1", "note": null}'


async def test_an_unknown_field_and_a_null_are_logged_by_name_without_their_values():
    sent, unfit = await call(answering(200, {"id": None, "secret_value": "s3cr3t"}))
    assert len(sent) == 3  # the answer went out unchanged
    (line,) = unfit
    assert line["route"] == "/v1/things/{id}" and line["status"] == 200
    problems = " ".join(line["problems"])
    assert "secret_value" in problems and "NoneType" in problems
    assert "s3cr3t" not in json.dumps(line)


async def test_an_undocumented_error_status_is_checked_against_the_error_schema():
    _, unfit = await call(answering(418, {"name": "teapot", "message": "short and stout", "detail": "x"}))
    assert "detail" in " ".join(unfit[0]["problems"])
    _, unfit = await call(answering(418, {"name": "teapot", "message": "short and stout"}))
    assert unfit == []


async def test_extras_and_answers_that_are_not_json_are_not_checked():
    _, unfit = await call(answering(200, {"extra": 1}), headers=[(b"valetkey-extras", b"true")])
    assert unfit == []
    _, unfit = await call(answering(200, {"extra": 1}, content_type=b"text/html"))
    assert unfit == []

"""A request reaches its use case as the standard library's JSON would give it, whichever way
its bytes are parsed (pydantic-core's parser first, ``json.loads`` for what that one refuses),
and an invalid one is refused with the same message as ever."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.bus.messaging import answer
from shared.contracts.authorization import GetAuthorization


class Command(BaseModel):
    name: str = Field(min_length=1)
    count: int = 0
    ratio: float = 0.0
    when: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)


async def _received(model: type[BaseModel], body: bytes) -> tuple[BaseModel | None, dict[str, Any]]:
    seen: list[BaseModel] = []

    async def use_case(request: BaseModel) -> None:
        seen.append(request)

    envelope = json.loads((await answer(model, body, use_case)).data)
    return (seen[0] if seen else None), envelope


def _as_before(model: type[BaseModel], body: bytes) -> BaseModel:
    return model.model_validate(json.loads(body))


async def test_a_request_is_what_the_standard_librarys_json_gives():
    bodies = [
        b'{"name":"a","count":3,"ratio":0.1,"when":"2026-12-03T14:00:00.123456Z"}',
        b'{"name":"\\u00e9t\\u00e9 \\ud83d\\ude00",'
        b'"data":{"big":18446744073709551616123,"x":[1.5e-7,-0,true]}}',
        b'{"name":"nan","ratio":NaN,"data":{"inf":1E400,"dup":1,"dup":2}}',
        b'{"name":"a lone surrogate inside data","data":{"k":"\\udc00"}}',
        '{"name":"utf-16"}'.encode("utf-16"),
        b' {"name" : "spaced" } ',
    ]
    for body in bodies:
        request, envelope = await _received(Command, body)
        assert envelope == {"ok": True, "result": None}
        assert repr(request) == repr(_as_before(Command, body))


async def test_an_empty_body_is_an_empty_object():
    request, envelope = await _received(GetAuthorization, b"")
    assert request is None  # authorization_id is required: refused like {}
    assert envelope["error"]["message"].startswith("failed to validate request body: authorization_id")


async def test_an_invalid_request_is_refused_with_the_same_message_as_before():
    cases = {
        b'{"name":""}': "failed to validate request body: name: String should have at least 1 character",
        b'{"count":"x","name":"a"}': "failed to validate request body: count: Input should be a valid"
        " integer, unable to parse string as an integer",
        b"[1,2]": "failed to validate request body: body: Input should be a valid dictionary or instance of"
        " Command",
        b'{"name":"lone \\ud800"}': "failed to validate request body: name: Input should be a valid string,"
        " unable to parse raw data as a unicode string",
        b'{"name":"a"} trailing': "request is not JSON",
        b"\xff\xfe\x00": "request is not JSON",
    }
    for body, message in cases.items():
        request, envelope = await _received(Command, body)
        assert request is None
        assert envelope["ok"] is False and envelope["error"]["message"] == message


async def test_a_contract_refuses_unknown_fields_either_way():
    _, envelope = await _received(GetAuthorization, b'{"authorization_id":"ac_1","extra":1}')
    assert (
        envelope["error"]["message"]
        == "failed to validate request body: extra: Extra inputs are not permitted"
    )

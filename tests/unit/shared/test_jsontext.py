"""The hot paths' JSON is the standard library's, to the byte: the same values decoded, the same
bytes written, the same errors raised, whichever library did the work (shared/runtime/jsontext.py)."""

from __future__ import annotations

import dataclasses
import enum
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.responses import JSONResponse

from services.gateway.wire import JsonAnswer
from shared.runtime.jsontext import dumps_compact, loads

STATUS_REPLY = (
    b'{"ok":true,"result":{"id":"ac_3Zk9","status":"completed","url":null,"scopes":["openid","email"],'
    b'"provider_id":"hooli","user_id":"user@example.com","context":{"token":"at_9f8e7d",'
    b'"user_info":{"sub":"123","email":"user@example.com","name":"Zo\xc3\xab \xf0\x9f\x98\x80",'
    b'"updated_at":1733234400,"score":0.75}},"failure_reason":null}}'
)


def _stdlib_answer(value: Any) -> bytes:
    return JSONResponse(value).body


def _outcome(call: Any, *args: Any) -> tuple[str, str]:
    try:
        return "value", repr(call(*args))
    except Exception as exc:
        return "error", type(exc).__name__


class TestLoads:
    def test_a_reply_decodes_to_what_json_loads_gives(self):
        bodies = [
            STATUS_REPLY,
            b'{"ok":false,"error":{"name":"not_found","message":"authorization \'x\' not found"}}',
            b'{"big":18446744073709551616123,"neg":-9223372036854775809,"u64":18446744073709551615}',
            b'{"nan":NaN,"inf":Infinity,"ninf":-Infinity,"huge":1E400,"tiny":1e-400,"neg0":-0}',
            b'{"dup":1,"other":2,"dup":3}',
            b'{"escaped":"\\u00e9\\ud83d\\ude00\\u0000\\/","floats":[0.1,5e-324,1.7976931348623157e308]}',
            b'{"lone":"\\ud800","reversed":"\\udc00\\ud800"}',
            b'"\xed\xa0\x80"',
            b"\xef\xbb\xbf{}",
            '{"utf16":"é"}'.encode("utf-16"),
            b' { "spaced" : [ 1 , 2 ] } ',
        ]
        for body in bodies:
            assert repr(loads(body)) == repr(json.loads(body)), body

    def test_what_json_loads_refuses_is_refused_with_its_error(self):
        for body in (b'{"a":1} trailing', b"", b"01", b"-", b'"\xff"', b"{'a':1}"):
            assert _outcome(loads, body) == _outcome(json.loads, body), body


class TestDumpsCompact:
    def test_an_answer_is_written_as_starlettes_json_response_writes_it(self):
        status = json.loads(STATUS_REPLY)["result"]
        values = [
            status,
            {"name": "not_found", "message": "authorization 'x' not found"},
            {"text": 'é \u2028 \U0001f600 \x00 \x1f "quoted" \\ </script>', "empty": {}, "list": []},
            {"ints": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1], "bools": [True, False, None]},
            {"floats": [0.0, -0.0, 1.0, 0.1, 1e-4, 9.999999999999998e15, 123456.789, -2.5]},
            {"nested": [[{"a": [{"b": None}]}]], "tuple": (1, "two")},
        ]
        for value in values:
            assert dumps_compact(value) == _stdlib_answer(value), value

    def test_floats_and_integers_beyond_orjsons_likeness_are_written_the_standard_way(self):
        values = [{"small": 1e-05}, {"smaller": -1.1082152206363206e-08}, {"big": 1e16}, {"huge": 1.5e300}]
        values += [{"int": 2**64}, {"neg": -(2**63) - 1}, {"deep": [{"x": 5e-324}]}]
        for value in values:
            assert dumps_compact(value) == _stdlib_answer(value), value

    def test_random_floats_are_written_alike(self):
        chance = random.Random(19)
        floats = [chance.uniform(-1e6, 1e6) for _ in range(2000)]
        floats += [chance.choice((1, -1)) * 10 ** chance.uniform(-12, 20) for _ in range(2000)]
        assert dumps_compact({"floats": floats}) == _stdlib_answer({"floats": floats})
        for number in floats[::50]:
            assert dumps_compact([number]) == _stdlib_answer([number])

    def test_keys_that_are_not_strings_are_written_as_the_standard_library_writes_them(self):
        value = {2: "two", 2.5: "two and a half", True: "yes", None: "none"}
        assert dumps_compact(value) == _stdlib_answer(value)

    def test_what_the_standard_library_refuses_is_refused_with_its_error(self):
        @dataclasses.dataclass
        class Point:
            x: int

        class Colour(enum.Enum):
            RED = "red"

        class Text(str):
            pass

        refused = [
            {"nan": float("nan")},
            {"inf": float("inf")},
            {"when": datetime(2026, 12, 3, tzinfo=UTC)},
            {"id": uuid.UUID(int=1)},
            {"point": Point(1)},
            {"colour": Colour.RED},
            {"set": {1}},
        ]
        for value in refused:
            assert _outcome(dumps_compact, value) == _outcome(_stdlib_answer, value), value
        assert dumps_compact({"text": Text("sub")}) == _stdlib_answer({"text": Text("sub")})

    def test_a_lone_surrogate_is_written_as_the_standard_library_writes_it(self):
        value = {"lone": "\ud800"}
        assert _outcome(dumps_compact, value) == _outcome(_stdlib_answer, value)


@pytest.mark.parametrize("status_code", [200, 403])
def test_the_gateways_json_answer_has_json_responses_headers_and_body(status_code):
    value = json.loads(STATUS_REPLY)["result"]
    ours = JsonAnswer(value, status_code=status_code, headers={"x-should-retry": "false"})
    theirs = JSONResponse(value, status_code=status_code, headers={"x-should-retry": "false"})
    assert (ours.body, ours.raw_headers, ours.status_code) == (
        theirs.body,
        theirs.raw_headers,
        theirs.status_code,
    )

"""Hot POST routes read their JSON body in one pydantic pass, with the gateway's error rules."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request

from services.gateway.routes.body import documented, json_body
from shared.errors import BadRequest


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tool_name: str
    user_id: str | None = None


def request(body: bytes, content_type: str | None = "application/json") -> Request:
    headers = [(b"content-type", content_type.encode())] if content_type else []
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({"type": "http", "method": "POST", "headers": headers, "path": "/"}, receive)


def read(body: bytes, content_type: str | None = "application/json") -> Body:
    return asyncio.run(json_body(request(body, content_type), Body))


class TestJsonBody:
    def test_a_json_body_becomes_the_model_and_unknown_fields_are_ignored(self):
        assert read(b'{"tool_name": "Kit.Tool", "extra": 1}') == Body(tool_name="Kit.Tool")

    @pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.api+json"])
    def test_json_content_types_with_parameters_or_suffixes_are_read(self, content_type):
        assert read(b'{"tool_name": "K.T"}', content_type).tool_name == "K.T"

    @pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
    def test_a_body_that_is_not_declared_json_is_a_bad_request(self, content_type):
        with pytest.raises(BadRequest, match="content-type application/json"):
            read(b'{"tool_name": "K.T"}', content_type)

    @pytest.mark.parametrize("raw", [b"{not json", b"", b"[" * 20000, b'{"tool_name": "\\ud800"}'])
    def test_text_that_is_not_json_is_a_bad_request_saying_so(self, raw):
        with pytest.raises(BadRequest, match="not valid JSON"):
            read(raw)

    def test_a_missing_field_is_a_bad_request_naming_it(self):
        with pytest.raises(BadRequest, match="tool_name: Field required"):
            read(b'{"user_id": "u"}')

    def test_json_that_is_not_an_object_is_a_bad_request_about_the_body(self):
        with pytest.raises(BadRequest, match="request: body: "):
            read(b"[1, 2]")

    def test_the_documented_body_is_the_models_schema_and_required(self):
        body = documented(Body)["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"]["required"] == ["tool_name"]

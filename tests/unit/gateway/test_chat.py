"""The chat completions loop (services/gateway/chat.py): the model's tool calls run until it answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from arcadepy.types import ChatMessage, ChatResponse, Choice, Usage

from services.gateway import chat
from services.gateway.arcade_schemas import SCHEMAS, conform, ref
from shared.errors import BadRequest, ProviderError
from tests.support.strict_openapi import StrictDocument


def call(name: str, arguments: dict[str, Any], call_id: str = "c1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def answer(message: dict[str, Any]) -> dict[str, Any]:
    reason = "tool_calls" if message.get("tool_calls") else "stop"
    return {"id": "x", "choices": [{"index": 0, "message": message, "finish_reason": reason}]}


class Model:
    """Answers each request with the next scripted message; keeps what it was sent."""

    def __init__(self, *messages: dict[str, Any]) -> None:
        self.script = list(messages)
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(request)
        return answer(self.script.pop(0))


class Tools:
    def __init__(self, authorization: dict[str, Any] | None = None) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []
        self.authorization = authorization

    async def __call__(self, name: str, arguments: dict[str, Any]) -> chat.ToolRun:
        self.ran.append((name, arguments))
        return chat.ToolRun(content=json.dumps(f"{name} ran"), authorization=self.authorization)


QUESTION = {"messages": [{"role": "user", "content": "hi"}]}


async def test_a_tool_call_is_run_and_its_result_sent_back_until_the_model_answers_text():
    model = Model(
        {"role": "assistant", "tool_calls": [call("Hooli_Ping", {"n": 1})]},
        {"role": "assistant", "content": "done"},
    )
    tools = Tools()
    final, done = await chat.converse(QUESTION, upstream=model, run_tool=tools, ours={"Hooli_Ping"})
    assert final["choices"][0]["message"]["content"] == "done"
    assert tools.ran == [("Hooli_Ping", {"n": 1})]
    assert [m["role"] for m in model.seen[1]["messages"]] == ["user", "assistant", "tool"]
    assert done.tool_messages == [
        {"role": "tool", "tool_call_id": "c1", "name": "Hooli_Ping", "content": '"Hooli_Ping ran"'}
    ]


async def test_a_call_to_the_callers_own_function_is_returned_to_the_caller_unrun():
    model = Model({"role": "assistant", "tool_calls": [call("Hooli_Ping", {}), call("my_fn", {}, "c2")]})
    tools = Tools()
    final, done = await chat.converse(QUESTION, upstream=model, run_tool=tools, ours={"Hooli_Ping"})
    assert final["choices"][0]["finish_reason"] == "tool_calls" and tools.ran == [] and not done.tool_messages


async def test_generate_returns_the_calls_without_running_them():
    model = Model({"role": "assistant", "tool_calls": [call("Hooli_Ping", {})]})
    tools = Tools()
    await chat.converse(QUESTION, upstream=model, run_tool=tools, ours={"Hooli_Ping"}, execute=False)
    assert tools.ran == []


async def test_a_tool_needing_authorization_ends_the_loop_with_the_authorization():
    model = Model({"role": "assistant", "tool_calls": [call("Hooli_Splines", {})]})
    pending = {"status": "pending", "url": "https://idp/authorize"}
    _, done = await chat.converse(
        QUESTION, upstream=model, run_tool=Tools(authorization=pending), ours={"Hooli_Splines"}
    )
    assert done.tool_authorizations == [pending] and len(model.seen) == 1


async def test_a_model_that_keeps_calling_stops_after_the_round_limit():
    looping = [{"role": "assistant", "tool_calls": [call("Hooli_Ping", {})]}] * 3
    model = Model(*looping)
    tools = Tools()
    final, _ = await chat.converse(
        QUESTION, upstream=model, run_tool=tools, ours={"Hooli_Ping"}, max_rounds=3
    )
    assert len(model.seen) == 3 and len(tools.ran) == 3
    assert final["choices"][0]["finish_reason"] == "tool_calls"


async def test_arguments_that_are_not_a_json_object_run_the_tool_with_none():
    bad = {"id": "c1", "type": "function", "function": {"name": "Hooli_Ping", "arguments": "not json"}}
    model = Model({"role": "assistant", "tool_calls": [bad]}, {"role": "assistant", "content": "ok"})
    tools = Tools()
    await chat.converse(QUESTION, upstream=model, run_tool=tools, ours={"Hooli_Ping"})
    assert tools.ran == [("Hooli_Ping", {})]


async def test_an_answer_without_a_message_is_a_provider_error():
    async def broken(request: dict[str, Any]) -> dict[str, Any]:
        return {"choices": []}

    with pytest.raises(ProviderError):
        await chat.converse(QUESTION, upstream=broken, run_tool=Tools(), ours=set())


def test_tools_split_into_engine_tool_names_and_the_callers_own_functions():
    own = {"type": "function", "function": {"name": "mine"}}
    assert chat.split_tools(["Hooli.Ping", own]) == (["Hooli.Ping"], [own])
    assert chat.split_tools(None) == ([], [])
    for bad in ("Hooli.Ping", [1], [""]):
        with pytest.raises(BadRequest):
            chat.split_tools(bad)


def test_arcades_tool_choice_values_reach_the_model_as_auto_and_others_pass_through():
    tool = {"type": "function", "function": {"name": "Hooli_Ping"}}
    sent = chat.upstream_request({"model": "m", "tools": ["Hooli.Ping"], "tool_choice": "execute"}, [tool])
    assert sent == {"model": "m", "tools": [tool], "tool_choice": "auto"}
    assert chat.upstream_request({"tool_choice": "required"}, [tool])["tool_choice"] == "required"
    assert chat.upstream_request({"model": "m", "tool_choice": "generate"}, []) == {"model": "m"}


def test_the_tool_messages_go_into_the_first_choice_only_when_there_are_some():
    plain = answer({"role": "assistant", "content": "hi"})
    assert chat.with_conversation(plain, chat.Conversation()) == plain
    done = chat.Conversation(tool_messages=[{"role": "tool"}])
    assert chat.with_conversation(plain, done)["choices"][0]["tool_messages"] == [{"role": "tool"}]


def test_a_stream_is_the_final_answer_as_one_chunk_then_usage_then_done():
    final = {
        **answer({"role": "assistant", "content": "hi", "tool_calls": [call("f", {})]}),
        "usage": {"t": 1},
    }
    events = chat.stream_events(final, include_usage=True)
    assert events[-1] == "data: [DONE]\n\n"
    first, usage = (json.loads(e.removeprefix("data: ")) for e in events[:-1])
    assert first["object"] == "chat.completion.chunk"
    delta = first["choices"][0]["delta"]
    assert delta["content"] == "hi" and delta["tool_calls"][0]["index"] == 0
    assert usage["choices"] == [] and usage["usage"] == {"t": 1}
    assert len(chat.stream_events(final)) == 2


class TestTheAnswerAsArcadesChatResponse:
    def test_a_null_content_becomes_text_and_openais_extra_fields_go(self):
        final = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "service_tier": "default",
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "logprobs": None,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "refusal": None,
                        "tool_calls": [call("A_B", {})],
                    },
                    "tool_messages": [{"role": "tool", "tool_call_id": "c1", "name": "A_B", "content": "1"}],
                }
            ],
            "usage": {
                "prompt_tokens": 1,
                "completion_tokens": 2,
                "total_tokens": 3,
                "prompt_tokens_details": {},
            },
        }
        body = conform(chat.arcade_answer(final), "ChatResponse")
        message = body["choices"][0]["message"]
        assert message["content"] == "" and "refusal" not in message
        assert "service_tier" not in body and "system_fingerprint" not in body
        assert body["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        assert _chat_problems(body) == [] and _chat_problems(final) != []

    def test_content_parts_are_joined_as_text(self):
        parts = {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        }
        answered = chat.arcade_answer({"choices": [{"message": parts}]})
        assert answered["choices"][0]["message"]["content"] == "ab"

    def test_the_schemas_name_exactly_arcadepys_fields(self):
        for name, model in (("ChatResponse", ChatResponse), ("Choice", Choice), ("Usage", Usage)):
            assert set(SCHEMAS[name]["properties"]) == set(model.model_fields), name
        assert set(SCHEMAS["ChatMessage"]["properties"]) == set(ChatMessage.model_fields)
        assert SCHEMAS["ChatMessage"]["required"] == ["content", "role"]


def _chat_problems(body: Any) -> list[str]:
    operation = {"responses": {"200": {"content": {"application/json": {"schema": ref("ChatResponse")}}}}}
    document = StrictDocument({"paths": {"/c": {"post": operation}}, "components": {"schemas": SCHEMAS}})
    return document.problems("post", "/c", 200, body)

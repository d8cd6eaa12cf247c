"""What one server-sent event of a streamed ``POST /v1/chat/completions`` carries: OpenAI's
``chat.completion.chunk`` (as arcadepy's and openai's clients read it), field by field.

Not Arcade's schema (Arcade documents the JSON answer only), so kept apart from arcade_schemas.SCHEMAS:
``finish_reason`` is null in a chunk that does not end its choice, as OpenAI's chunks say. The chunks
are written by services/gateway/chat.py ``stream_events`` from the final answer, one per choice, then
``usage`` when ``stream_options.include_usage`` asks, then ``data: [DONE]``.
"""

from __future__ import annotations

from typing import Any

from services.gateway.schema_kit import ANY, INTEGER, STRING, array, closed, ref

CHUNK = "ChatCompletionChunk"

CHUNK_SCHEMAS: dict[str, dict[str, Any]] = {
    "ChatChunkToolCall": closed(
        {
            "index": INTEGER,
            "id": STRING,
            "type": {"type": "string", "enum": ["function"]},
            "function": closed({"arguments": STRING, "name": STRING}),
        },
        "index",
    ),
    "ChatChunkDelta": closed(
        {
            "content": STRING,
            "role": STRING,
            "name": STRING,
            "tool_call_id": STRING,
            "tool_calls": array(ref("ChatChunkToolCall")),
        }
    ),
    "ChatChunkChoice": closed(
        {
            "delta": ref("ChatChunkDelta"),
            "finish_reason": {"type": "string", "nullable": True},
            "index": INTEGER,
            "logprobs": ANY,
            "tool_authorizations": array(ref("AuthorizationResponse")),
            "tool_messages": array(ref("ChatMessage")),
        },
        "delta",
        "finish_reason",
        "index",
    ),
    CHUNK: closed(
        {
            "id": STRING,
            "choices": array(ref("ChatChunkChoice")),
            "created": INTEGER,
            "model": STRING,
            "object": {"type": "string", "enum": ["chat.completion.chunk"]},
            "system_fingerprint": STRING,
            "usage": ref("Usage"),
        },
        "choices",
        "object",
    ),
}

#: The ``text/event-stream`` answer: its text, and what each event's ``data`` is.
EVENT_STREAM: dict[str, Any] = {
    "schema": {
        "type": "string",
        "description": (
            "Server-sent events: each `data:` line is one ChatCompletionChunk "
            "(#/components/schemas/ChatCompletionChunk) as JSON, the last `data: [DONE]`."
        ),
    },
    "x-event-data": ref(CHUNK),
}

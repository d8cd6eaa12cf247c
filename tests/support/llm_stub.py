"""A local OpenAI-compatible chat completions server, since no model can be reached from the tests.

It plays a model that uses tools: asked with ``tools`` and no tool result yet, it answers a
``tool_calls`` message calling the first tool with the arguments set in ``arguments``; asked
again with the tool's result, it answers text that quotes the result. Every request is
recorded (body and ``Authorization`` header) so a test can read what the engine sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER_PREFIX = "the tool said: "


@dataclass
class LlmStub:
    base_url: str
    arguments: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        results = [m for m in messages if m.get("role") == "tool"]
        if body.get("tools") and not results:
            name = body["tools"][0]["function"]["name"]
            call = {
                "id": f"call_{len(self.requests)}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(self.arguments)},
            }
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
            reason = "tool_calls"
        else:
            said = results[-1]["content"] if results else messages[-1].get("content")
            message, reason = {"role": "assistant", "content": f"{ANSWER_PREFIX}{said}"}, "stop"
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": reason}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }


@contextmanager
def running_llm_stub() -> Iterator[LlmStub]:
    """The stub on a free loopback port for the block, at ``{base_url}/chat/completions``."""
    stub: LlmStub

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            answer = json.dumps(stub.answer(body)).encode()
            stub.requests.append(body)
            stub.authorizations.append(self.headers.get("authorization"))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub = LlmStub(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()

"""Chat completions (the package's stub LLM upstream) answer Arcade's chat response."""

from __future__ import annotations

import pytest

from tests.e2e.wire_strict import MODEL
from tests.support.auth_flows import new_user

pytestmark = pytest.mark.e2e


class TestChatCompletionsAnswerArcadesChatResponse:
    def test_a_completion_that_ran_a_tool_and_one_that_did_not(self, session, llm):
        llm.arguments = {}
        body = {"model": MODEL, "messages": [{"role": "user", "content": "ping"}], "user": new_user("wire")}
        ran = session.call("POST", "/v1/chat/completions", 200, json={**body, "tools": ["Hooli.Ping"]})
        choice = ran["choices"][0]
        assert choice["tool_messages"][0]["role"] == "tool" and choice["message"]["content"]
        plain = session.call("POST", "/v1/chat/completions", 200, json=body)
        assert plain["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        generated = session.call(
            "POST",
            "/v1/chat/completions",
            200,
            json={**body, "tools": ["Hooli.Ping"], "tool_choice": "generate"},
        )
        assert generated["choices"][0]["message"]["content"] == ""
        session.call("POST", "/v1/chat/completions", 400, json={"messages": []})
        assert session.problems == []

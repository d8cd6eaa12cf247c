"""The OpenAI Agents SDK's MCP client (``MCPServerStreamableHttp``) drives a gateway, with a scripted model.

The model is the only stand-in: it calls ``Hooli_ReticulateSplines`` once, then answers with
what the tool returned. The first run's answer carries the authorization URL (the gateway's
``tools/call`` result); the test consents at the real OAuth server; the second run's carries
the tool's output, made with the user's token.
"""

import json
import re
import secrets

import pytest
from agents import Agent, Model, ModelResponse, Runner, Usage, set_tracing_disabled
from agents.mcp import MCPServerStreamableHttp
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

from tests.support.browser import consent_and_follow
from tests.support.hooli_engine import running_hooli_engine

pytestmark = pytest.mark.e2e

TOOL = "Hooli_ReticulateSplines"


def _text(output: object) -> str:
    if isinstance(output, list):
        return "\n".join(str(item.get("text", "")) for item in output if isinstance(item, dict))
    return str(output)


class ScriptedModel(Model):
    """Calls the tool first; once the tool's output is in the conversation, answers with it."""

    def __init__(self) -> None:
        self.offered: set[str] = set()

    async def get_response(self, system_instructions, input, model_settings, tools, *args, **kwargs):
        self.offered = {t.name for t in tools}
        items = input if isinstance(input, list) else []
        outputs = [i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
        if not outputs:
            call = ResponseFunctionToolCall(
                type="function_call", call_id="call_1", name=TOOL, arguments=json.dumps({"num_splines": 5})
            )
            return ModelResponse(output=[call], usage=Usage(), response_id=None)
        text = ResponseOutputText(type="output_text", text=_text(outputs[-1]["output"]), annotations=[])
        message = ResponseOutputMessage(
            type="message", id="msg_1", role="assistant", status="completed", content=[text]
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("the scripted model does not stream")


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url):
    set_tracing_disabled(True)  # no trace export to api.openai.com
    home = tmp_path_factory.mktemp("mcp-agents-engine")

    def with_gateway(config):
        config["mcp"] = {
            "gateways": [{"slug": "splines", "tools": ["Hooli.ReticulateSplines", "Hooli.Ping"]}]
        }

    with running_hooli_engine(
        home,
        nats_url=nats_url,
        redis_url=redis_url,
        client_name="valetkey-mcp-agents",
        configure=with_gateway,
    ) as running:
        yield running


async def run_agent(engine, user: str) -> tuple[str, ScriptedModel]:
    params = {
        "url": f"{engine.base_url}/mcp/splines",
        "headers": {"Authorization": f"Bearer {engine.api_key}", "Arcade-User-ID": user},
    }
    model = ScriptedModel()
    async with MCPServerStreamableHttp(params, name="valetkey", cache_tools_list=True) as server:
        agent = Agent(
            name="Hooli agent", instructions="You reticulate splines.", model=model, mcp_servers=[server]
        )
        result = await Runner.run(starting_agent=agent, input="Reticulate 5 splines")
    return str(result.final_output), model


async def test_an_agent_gets_the_authorization_url_then_after_consent_the_tools_output(engine):
    user = f"agent-{secrets.token_hex(4)}"

    first, model = await run_agent(engine, user)
    assert model.offered == {"Hooli_ReticulateSplines", "Hooli_Ping"}
    url = re.search(r'"authorization_url": "([^"]+)"', first)
    assert url, first

    await consent_and_follow(url.group(1), login="jared", callback_prefix=engine.redirect_uri)

    second, _ = await run_agent(engine, user)
    value = json.loads(second)
    assert (value["reticulated"], value["sub"], value["user_id"]) == (5, "jared", user)

"""Seed 000: the real openai-agents and agents-arcade against the engine, driven by a scripted model.

The model is the only stand-in: it calls ``Hooli_ReticulateSplines`` once, then answers
with what the tool returned. Everything else is the packages users install, talking to
the engine over HTTP, with the real OAuth server and a scripted browser for consent.
"""

import json
import secrets

import pytest
from agents import Agent, Model, ModelResponse, Runner, Usage, set_tracing_disabled
from agents_arcade import get_arcade_tools
from agents_arcade.errors import AuthorizationError
from arcadepy import AsyncArcade
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

from tests.support.browser import consent_and_follow
from tests.support.hooli_engine import running_hooli_engine

pytestmark = pytest.mark.e2e

TOOL = "Hooli_ReticulateSplines"


class ScriptedModel(Model):
    """Calls the tool first; once the tool's output is in the conversation, answers with it."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_response(
        self,
        system_instructions,
        input,
        model_settings,
        tools,
        output_schema,
        handoffs,
        tracing,
        *,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    ):
        self.calls += 1
        items = input if isinstance(input, list) else []
        outputs = [i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
        if not outputs:
            assert TOOL in {t.name for t in tools}, "agents-arcade should have offered the tool"
            call = ResponseFunctionToolCall(
                type="function_call",
                call_id=f"call_{self.calls}",
                name=TOOL,
                arguments=json.dumps({"num_splines": 4}),
            )
            return ModelResponse(output=[call], usage=Usage(), response_id=None)
        text = ResponseOutputText(type="output_text", text=str(outputs[-1]["output"]), annotations=[])
        message = ResponseOutputMessage(
            type="message", id=f"msg_{self.calls}", role="assistant", status="completed", content=[text]
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("the scripted model does not stream")


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url):
    set_tracing_disabled(True)  # no trace export to api.openai.com
    home = tmp_path_factory.mktemp("agents-engine")
    with running_hooli_engine(
        home, nats_url=nats_url, redis_url=redis_url, client_name="valetkey-agents"
    ) as running:
        yield running


async def run_agent(client: AsyncArcade, user_id: str) -> tuple[object, ScriptedModel]:
    """Seed 000's code, with the scripted model in place of gpt-4o-mini."""
    tools = await get_arcade_tools(client, toolkits=["hooli"])
    model = ScriptedModel()
    agent = Agent(name="Hooli agent", instructions="You reticulate splines.", model=model, tools=tools)
    result = await Runner.run(
        starting_agent=agent, input="Reticulate 4 splines", context={"user_id": user_id}
    )
    return result, model


class TestSeed000:
    async def test_authorization_error_then_consent_then_the_retry_succeeds_and_a_second_run_needs_none(
        self, engine
    ):
        client = AsyncArcade(base_url=engine.base_url, api_key=engine.api_key)
        user_id = f"agent-user-{secrets.token_hex(4)}"

        with pytest.raises(AuthorizationError) as error:
            await run_agent(client, user_id)
        url = error.value.result.url
        assert str(error.value) == f"Authorization required: {url}"

        await consent_and_follow(url, login="dinesh", callback_prefix=engine.redirect_uri)
        completed = await client.auth.wait_for_completion(error.value.result.id)
        assert completed.status == "completed"

        result, model = await run_agent(client, user_id)
        value = json.loads(result.final_output)
        assert (value["reticulated"], value["sub"], value["user_id"]) == (4, "dinesh", user_id)
        assert model.calls == 2

        again, _ = await run_agent(client, user_id)
        assert json.loads(again.final_output)["sub"] == "dinesh"

    async def test_tools_of_a_toolkit_are_offered_with_their_openai_names(self, engine):
        client = AsyncArcade(base_url=engine.base_url, api_key=engine.api_key)
        tools = await get_arcade_tools(client, toolkits=["hooli"])
        assert {t.name for t in tools} == {
            "Hooli_ReticulateSplines",
            "Hooli_ReadApiKeyFingerprint",
            "Hooli_Explode",
            "Hooli_Flaky",
            "Hooli_Nap",
            "Hooli_NapSync",
            "Hooli_Ping",
        }

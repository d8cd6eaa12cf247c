"""Remote MCP servers as workers (docs/mcp.md), through the real engine, arcadepy and real servers.

Two servers run as their own processes (tests/support/mcp_servers.py): one built with the plain
``mcp`` SDK (MCPServer, FastMCP in mcp 1.x) behind an API-key header, configured in engine.yaml;
one built with arcade-mcp-server, registered at runtime with arcadepy's ``workers.create``.
"""

import json
import os
import secrets

import httpx
import mcp_types as types
import pytest
from agents import Agent, Model, ModelResponse, Runner, Usage, set_tracing_disabled
from agents_arcade import get_arcade_tools
from arcadepy import Arcade, AsyncArcade, BadRequestError, ConflictError, NotFoundError, PermissionDeniedError
from mcp.shared.exceptions import MCPError
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

from tests.support.browser import consent_and_follow
from tests.support.engine import base_config, running_engine
from tests.support.mcp_clients import mcp_session
from tests.support.mcp_servers import KEY_HEADER, running_mcp_server
from tests.support.oauth_server import OAuthClient, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tests.support.worker_app import free_port
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

NOTES_KEY = f"notes-key-{secrets.token_hex(8)}"
GREETER_SECRET = f"greeter-worker-secret-{secrets.token_hex(8)}"
OTHER_PROJECT_KEY = f"vk_test_other_{secrets.token_hex(8)}"
MCP_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory, nats_url, redis_url):
    home = tmp_path_factory.mktemp("mcp-workers")
    port = embedded.free_port()
    client = OAuthClient("valetkey-mcpw", [f"http://127.0.0.1:{port}/oauth/callback"], client_secret="s3")
    with start_oauth_server(home, clients=[client]) as oauth:
        env = os.environ | {
            "ARCADE_WORKER_SECRET": GREETER_SECRET,
            "HOOLI_USERINFO_URL": oauth.userinfo_endpoint,
        }
        with (
            running_mcp_server("plain", key=NOTES_KEY) as notes_url,
            running_mcp_server("arcade", env=env) as greeter_url,
        ):
            entry = oidc_provider_entry(
                oauth, id="hooli", client_id=client.client_id, client_secret=client.client_secret
            )
            entry["oauth2"]["authorize_request"]["params"]["scope"] = "openid {{scopes}} {{existing_scopes}}"
            config = base_config(port, secrets.token_urlsafe(32))
            config["auth"]["providers"] = [entry]
            notes = {
                "uri": notes_url,
                "toolkit": "Notes",
                "secrets": {KEY_HEADER: NOTES_KEY},
                "timeout": MCP_TIMEOUT_S,
                "retry": 1,
            }
            config["tools"]["directors"] = [{"id": "default", "workers": [{"id": "notes", "mcp": notes}]}]
            config["mcp"] = {"gateways": [{"slug": "workers", "tools": ["Notes.*", "Greeter.Greeter_*"]}]}
            config["api"]["keys"] = [{"key": OTHER_PROJECT_KEY, "project": "other", "role": "admin"}]
            with running_engine(home, nats_url=nats_url, redis_url=redis_url, config=config) as engine:
                engine.notes_url, engine.greeter_url = notes_url, greeter_url
                yield engine


@pytest.fixture
def arcade(stack):
    return Arcade(base_url=stack.base_url, api_key=stack.api_key, max_retries=0)


@pytest.fixture
def http(stack):
    with httpx.Client(base_url=stack.base_url, headers=stack.headers, timeout=30) as client:
        yield client


def mcp_body(uri, **extra):
    return {"uri": uri, "timeout": 10, "retry": 1} | extra


class TestAPlainMcpServerFromEngineYaml:
    def test_its_tools_join_the_catalog_under_the_configured_toolkit_with_their_input_schemas(self, arcade):
        assert {t.name for t in arcade.tools.list(toolkit="Notes")} == {"add", "echo", "explode", "nap"}
        echo = {p.name: p for p in arcade.tools.get("Notes.echo").input.parameters}
        assert (echo["text"].required, echo["text"].description) == (True, "What to say back")
        assert (echo["times"].required, echo["times"].value_schema.val_type) == (False, "integer")

    def test_its_tools_run_through_arcadepy_with_the_secret_header_sent(self, arcade):
        assert arcade.tools.execute(tool_name="Notes.add", input={"a": 2, "b": 3}).output.value == 5
        echoed = arcade.tools.execute(tool_name="Notes_echo", input={"text": "hi", "times": 2})
        assert echoed.output.value == "hi hi"

    def test_a_tool_that_fails_is_a_failed_result(self, arcade):
        result = arcade.tools.execute(tool_name="Notes.explode")
        assert (result.success, result.output.error.kind) == (False, "TOOL_RUNTIME_FATAL")
        assert "explode" in result.output.error.message

    def test_a_slow_tool_times_out_at_the_workers_timeout(self, arcade):
        result = arcade.tools.execute(tool_name="Notes.nap", input={"seconds": MCP_TIMEOUT_S + 3})
        assert (result.success, result.output.error.kind) == (False, "NETWORK_TRANSPORT_RUNTIME_TIMEOUT")

    def test_it_is_listed_as_a_static_mcp_worker_whose_secret_is_never_shown(self, arcade, http):
        worker = arcade.workers.get("notes")
        assert (worker.type, worker.binding.type, worker.mcp.uri) == ("mcp", "static", worker.mcp.uri)
        assert worker.mcp.secrets[KEY_HEADER].exists is True and not worker.mcp.secrets[KEY_HEADER].value
        assert NOTES_KEY not in http.get("/v1/workers", params={"limit": 100}).text
        assert arcade.workers.health("notes").healthy is True


class TestAnArcadeMcpServerRegisteredWithArcadepy:
    def test_its_tools_run_and_leave_the_catalog_with_it(self, arcade, stack):
        worker_id = f"greeter-{secrets.token_hex(3)}"
        created = arcade.workers.create(
            id=worker_id, type="mcp", mcp=mcp_body(stack.greeter_url, toolkit="Greeter")
        )
        assert (created.type, created.binding.type, created.mcp.uri) == ("mcp", "project", stack.greeter_url)
        assert {t.name for t in arcade.workers.tools(worker_id)} == {"Greeter_Greet", "Greeter_Whoami"}
        result = arcade.tools.execute(tool_name="Greeter.Greeter_Greet", input={"name": "Ann"})
        assert result.output.value == "Hello, Ann!"
        assert arcade.workers.health(worker_id).healthy is True

        arcade.workers.delete(worker_id)
        with pytest.raises(NotFoundError):
            arcade.tools.get("Greeter.Greeter_Greet")

    def test_a_requires_auth_tool_over_mcp_fails_with_the_servers_own_reason(self, arcade, stack):
        """arcade-mcp-server reads no token from ``tools/call``: over HTTP it runs such a tool only for a
        front-door OAuth user, and then fetches the token from the Arcade API itself (docs/mcp.md)."""
        worker_id = f"greeter-{secrets.token_hex(3)}"
        arcade.workers.create(id=worker_id, type="mcp", mcp=mcp_body(stack.greeter_url, toolkit="Greeter"))
        try:
            result = arcade.tools.execute(tool_name="Greeter.Greeter_Whoami", user_id="someone")
            assert (result.success, result.output.error.kind) == (False, "TOOL_RUNTIME_FATAL")
            assert "Unsupported transport" in result.output.error.message
        finally:
            arcade.workers.delete(worker_id)

    async def test_as_an_http_worker_the_same_server_gets_the_users_token_after_a_real_consent(self, stack):
        """The way Arcade passes a token to an arcade-mcp-server: its worker routes (ARCADE_WORKER_SECRET).
        The 403 carries the authorization to open with valetkey's extras (arcade-compatibility §1.6)."""
        extras = {"Valetkey-Extras": "true"}
        arcade = AsyncArcade(
            base_url=stack.base_url, api_key=stack.api_key, max_retries=0, default_headers=extras
        )
        worker_id, user = f"greeter-http-{secrets.token_hex(3)}", f"user-{secrets.token_hex(4)}"
        base = stack.greeter_url.removesuffix("/mcp")
        http = {"uri": base, "secret": GREETER_SECRET, "timeout": 10, "retry": 1}
        await arcade.workers.create(id=worker_id, http=http)
        try:
            with pytest.raises(PermissionDeniedError) as error:
                await arcade.tools.execute(tool_name="Greeter.Whoami", user_id=user)
            pending = error.value.body["output"]["authorization"]
            await consent_and_follow(pending["url"], login="monica", callback_prefix=stack.redirect_uri)
            assert (await arcade.auth.wait_for_completion(pending["id"])).status == "completed"
            result = await arcade.tools.execute(tool_name="Greeter.Whoami", user_id=user)
            assert (result.success, result.output.value) == (True, "monica")
        finally:
            await arcade.workers.delete(worker_id)


class OneCallModel(Model):
    """A scripted model: calls ``tool`` with ``arguments`` once, then answers with the tool's output."""

    def __init__(self, tool: str, arguments: dict) -> None:
        self.tool, self.arguments, self.offered = tool, arguments, set()

    async def get_response(self, system_instructions, input, model_settings, tools, *args, **kwargs):
        self.offered = {t.name for t in tools}
        outputs = [i for i in input if isinstance(i, dict) and i.get("type") == "function_call_output"]
        if not outputs:
            arguments = json.dumps(self.arguments)
            call = ResponseFunctionToolCall(
                type="function_call", call_id="c1", name=self.tool, arguments=arguments
            )
            return ModelResponse(output=[call], usage=Usage(), response_id=None)
        text = ResponseOutputText(type="output_text", text=str(outputs[-1]["output"]), annotations=[])
        message = ResponseOutputMessage(
            type="message", id="m1", role="assistant", status="completed", content=[text]
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("the scripted model does not stream")


class TestThroughAgentsArcade:
    async def test_an_agent_is_offered_the_mcp_workers_tools_and_runs_one(self, stack):
        set_tracing_disabled(True)  # no trace export to api.openai.com
        client = AsyncArcade(base_url=stack.base_url, api_key=stack.api_key)
        model = OneCallModel("Notes_add", {"a": 20, "b": 22})
        agent = Agent(
            name="Notes agent", model=model, tools=await get_arcade_tools(client, toolkits=["notes"])
        )
        result = await Runner.run(starting_agent=agent, input="Add 20 and 22", context={"user_id": "u-agent"})
        assert {"Notes_add", "Notes_echo"} <= model.offered
        assert result.final_output == "42"


class TestThroughAnMcpGateway:
    def headers(self, stack):
        return {"Authorization": f"Bearer {stack.api_key}", "Arcade-User-ID": f"u-{secrets.token_hex(4)}"}

    async def test_the_plain_servers_tools_are_listed_and_called_through_a_gateway(self, stack):
        async with mcp_session(f"{stack.base_url}/mcp/workers", self.headers(stack)) as session:
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            result = await session.call_tool("Notes_add", {"a": 4, "b": 5})
        assert {"Notes_add", "Notes_echo", "Notes_explode", "Notes_nap"} <= set(tools)
        assert tools["Notes_echo"].input_schema["required"] == ["text"]
        assert (result.is_error, result.content[0].text) == (False, "9")

    async def test_an_arcade_mcp_servers_tool_registered_at_runtime_is_called_through_a_gateway(
        self, stack, arcade
    ):
        worker_id = f"greeter-{secrets.token_hex(3)}"
        arcade.workers.create(id=worker_id, type="mcp", mcp=mcp_body(stack.greeter_url, toolkit="Greeter"))
        try:
            async with mcp_session(f"{stack.base_url}/mcp/workers", self.headers(stack)) as session:
                result = await session.call_tool("Greeter_Greeter_Greet", {"name": "Bo"})
            assert (result.is_error, result.content[0].text) == (False, "Hello, Bo!")
        finally:
            arcade.workers.delete(worker_id)


class TestAnMcpWorkerBelongsToAProject:
    async def test_one_registered_with_a_projects_key_serves_that_project_only(self, stack, arcade):
        other = Arcade(base_url=stack.base_url, api_key=OTHER_PROJECT_KEY, max_retries=0)
        worker_id = f"greeter-other-{secrets.token_hex(3)}"
        created = other.workers.create(
            id=worker_id, type="mcp", mcp=mcp_body(stack.greeter_url, toolkit="Greeter")
        )
        try:
            assert created.binding.type == "project"
            ran = other.tools.execute(tool_name="Greeter.Greeter_Greet", input={"name": "Cy"})
            assert ran.output.value == "Hello, Cy!"

            with pytest.raises(NotFoundError):
                arcade.tools.get("Greeter.Greeter_Greet")
            with pytest.raises(NotFoundError):
                arcade.workers.get(worker_id)
            # The default project's gateway matches Greeter.* too, but runs tools in its own project.
            headers = {"Authorization": f"Bearer {stack.api_key}", "Arcade-User-ID": "u-default"}
            async with mcp_session(f"{stack.base_url}/mcp/workers", headers) as session:
                with pytest.raises(MCPError) as refused:
                    await session.call_tool("Greeter_Greeter_Greet", {"name": "Cy"})
            assert refused.value.code == types.INVALID_PARAMS
        finally:
            other.workers.delete(worker_id)


class TestBadInput:
    def test_an_unreachable_server_is_saved_reported_unhealthy_and_its_tools_answer_503(self, arcade, http):
        worker_id = f"nowhere-{secrets.token_hex(3)}"
        arcade.workers.create(id=worker_id, type="mcp", mcp=mcp_body(f"http://127.0.0.1:{free_port()}/mcp"))
        try:
            health = arcade.workers.health(worker_id)
            assert health.healthy is False and "unreachable" in health.message
            tools = http.get(f"/v1/workers/{worker_id}/tools")
            assert tools.status_code == 503
            assert "unreachable" in tools.json()["message"]
        finally:
            arcade.workers.delete(worker_id)

    def test_a_server_whose_tool_names_are_taken_is_refused_with_409(self, arcade, stack):
        body = mcp_body(stack.notes_url, toolkit="Notes", secrets={KEY_HEADER: NOTES_KEY})
        with pytest.raises(ConflictError) as error:
            arcade.workers.create(id="notes-again", type="mcp", mcp=body)
        assert "Notes.add" in error.value.body["message"]
        with pytest.raises(NotFoundError):
            arcade.workers.get("notes-again")

    def test_a_server_that_refuses_our_headers_is_refused_with_400(self, arcade, stack):
        body = mcp_body(stack.notes_url, toolkit="Other", secrets={KEY_HEADER: "not-the-key-0451"})
        with pytest.raises(BadRequestError) as error:
            arcade.workers.create(id="notes-wrong-key", type="mcp", mcp=body)
        assert "refused" in error.value.body["message"]
        assert "not-the-key-0451" not in error.value.body["message"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"id": "m1", "type": "mcp", "mcp": {"uri": "http://m"}}, "mcp.timeout"),
            ({"id": "m2", "type": "mcp", "mcp": {"uri": "ftp://m", "timeout": 1, "retry": 0}}, "mcp.uri"),
            (
                {
                    "id": "m3",
                    "type": "mcp",
                    "http": {"uri": "http://m", "secret": "s" * 32, "timeout": 1, "retry": 0},
                },
                "mcp",
            ),
            ({"id": "m4", "type": "mcp", "mcp": mcp_body("http://m", toolkit="no spaces")}, "mcp.toolkit"),
            ({"id": "m5", "type": "grpc"}, "type"),
        ],
    )
    def test_a_bad_body_is_400_naming_the_field(self, http, body, field):
        answer = http.post("/v1/workers", json=body)
        assert answer.status_code == 400
        assert f" {field}:" in answer.json()["message"]

"""MCP gateways (docs/mcp.md) through the real engine, the official ``mcp`` client and the real OAuth server.

One engine for the module: the hooli toolkit in process, its provider at the real OAuth server,
and two gateways in engine.yaml. The clients are the packages users install: the ``mcp`` SDK's
Streamable HTTP client and the OpenAI Agents SDK's ``MCPServerStreamableHttp``.
"""

import json
import secrets

import httpx
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.support.browser import consent_and_follow
from tests.support.hooli_engine import running_hooli_engine
from tests.support.mcp_clients import mcp_session, url_opening_client
from tests.support.toolkits.hooli.tools import fingerprint

pytestmark = pytest.mark.e2e

INSTRUCTIONS = "Reticulate splines when asked; ping to check Hooli is up."
GATEWAYS = [
    {
        "slug": "hooli",
        "description": "Hooli's splines",
        "instructions": INSTRUCTIONS,
        "tools": ["Hooli.Ping", "hooli.Reticulate*"],
    },
    {"slug": "everything", "tools": ["*"]},
    {"slug": "others-pings", "tools": ["Hooli.Ping"], "project": "other"},
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url):
    home = tmp_path_factory.mktemp("mcp-engine")

    def with_gateways(config):
        config["mcp"] = {"gateways": GATEWAYS}
        config["api"]["keys"] = [{"key": OTHER_PROJECT_KEY, "project": "other", "role": "admin"}]

    with running_hooli_engine(
        home, nats_url=nats_url, redis_url=redis_url, client_name="valetkey-mcp", configure=with_gateways
    ) as running:
        yield running


OTHER_PROJECT_KEY = "vk_test_key_of_project_other"


def user_headers(engine, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {engine.api_key}", "Arcade-User-ID": user}


def new_user() -> str:
    return f"mcp-user-{secrets.token_hex(4)}"


def gateway_url(engine, slug: str = "hooli") -> str:
    return f"{engine.base_url}/mcp/{slug}"


class TestHeadersMode:
    async def test_a_gateway_lists_only_the_tools_its_patterns_match_with_their_input_schemas(self, engine):
        async with mcp_session(gateway_url(engine), user_headers(engine, new_user())) as session:
            listed = await session.list_tools()
        tools = {tool.name: tool for tool in listed.tools}
        assert set(tools) == {"Hooli_Ping", "Hooli_ReticulateSplines"}
        schema = tools["Hooli_ReticulateSplines"].input_schema
        assert schema["properties"]["num_splines"]["type"] == "integer"
        assert schema["required"] == ["num_splines"]

    async def test_initialize_answers_with_the_gateways_instructions(self, engine):
        async with (
            mcp_session(gateway_url(engine), user_headers(engine, new_user())) as session,
        ):
            result = await session.initialize()
        assert result.instructions == INSTRUCTIONS
        assert result.server_info.name == "valetkey/hooli"

    async def test_a_wildcard_gateway_exposes_the_whole_catalog(self, engine):
        async with mcp_session(
            gateway_url(engine, "everything"), user_headers(engine, new_user())
        ) as session:
            names = {tool.name for tool in (await session.list_tools()).tools}
        assert {"Hooli_Ping", "Hooli_Explode", "Hooli_ReticulateSplines", "Hooli_NapSync"} <= names

    async def test_a_tool_that_needs_no_authorization_runs_for_the_user(self, engine):
        async with mcp_session(gateway_url(engine), user_headers(engine, new_user())) as session:
            result = await session.call_tool("Hooli_Ping", {})
        assert not result.is_error
        assert [c.text for c in result.content] == ["pong"]

    async def test_a_tool_needing_oauth_shows_the_url_then_runs_with_the_users_token_after_consent(
        self, engine
    ):
        user = new_user()
        async with mcp_session(gateway_url(engine), user_headers(engine, user)) as session:
            first = await session.call_tool("Hooli_ReticulateSplines", {"num_splines": 3})
            assert first.is_error
            fields = json.loads(first.content[1].text)
            url = fields["authorization_url"]
            assert url in first.content[0].text
            assert "access_token" not in first.model_dump_json()

            await consent_and_follow(url, login="gilfoyle", callback_prefix=engine.redirect_uri)

            second = await session.call_tool("Hooli_ReticulateSplines", {"num_splines": 3})
        assert not second.is_error
        value = json.loads(second.content[0].text)
        assert (value["reticulated"], value["sub"], value["user_id"]) == (3, "gilfoyle", user)
        assert value["token_length"] > 0
        assert second.structured_content == value

    async def test_a_client_that_opens_urls_is_asked_by_url_elicitation_and_the_same_call_returns_the_output(
        self, engine
    ):
        user = new_user()
        asked: list[types.ElicitRequestURLParams] = []

        async def open_the_url(_context, params):  # the client shows the URL; the user consents there
            asked.append(params)
            await consent_and_follow(params.url, login="dinesh", callback_prefix=engine.redirect_uri)
            return types.ElicitResult(action="accept")

        async with url_opening_client(
            gateway_url(engine), user_headers(engine, user), open_the_url
        ) as client:
            assert client.protocol_version == "2026-07-28"
            result = await client.call_tool("Hooli_ReticulateSplines", {"num_splines": 2})
        assert [(a.mode, a.message) for a in asked] == [
            ("url", "Tool 'Hooli.ReticulateSplines' needs your permission to access your account.")
        ]
        consent_page = httpx.URL(asked[0].url)  # the provider's, for this flow
        assert consent_page.params["client_id"] == "valetkey-mcp" and consent_page.params["state"]
        assert not result.is_error, result
        value = json.loads(result.content[0].text)
        assert (value["reticulated"], value["sub"], value["user_id"]) == (2, "dinesh", user)

    async def test_a_user_who_declines_to_open_the_url_gets_the_url_in_the_result(self, engine):
        async def decline(_context, _params):
            return types.ElicitResult(action="decline")

        async with url_opening_client(
            gateway_url(engine), user_headers(engine, new_user()), decline
        ) as client:
            result = await client.call_tool("Hooli_ReticulateSplines", {"num_splines": 2})
        assert result.is_error
        assert json.loads(result.content[1].text)["authorization_url"] in result.content[0].text

    async def test_a_tool_that_fails_answers_an_error_result_with_what_the_agent_should_change(self, engine):
        async with mcp_session(
            gateway_url(engine, "everything"), user_headers(engine, new_user())
        ) as session:
            result = await session.call_tool("Hooli_Flaky", {"hint": "ask again later"})
        assert result.is_error
        texts = [c.text for c in result.content]
        assert texts[0].endswith("Hooli is busy")
        assert texts[1:] == ["ask again later"]

    async def test_a_tool_needing_a_secret_reads_the_projects_secret_as_execute_does(self, engine):
        value = f"hooli-key-{secrets.token_hex(6)}"
        headers = user_headers(engine, new_user())
        async with mcp_session(gateway_url(engine, "everything"), headers) as session:
            missing = await session.call_tool("Hooli_ReadApiKeyFingerprint", {})
            assert missing.is_error
            assert [c.text for c in missing.content] == ["secret not found: HOOLI_API_KEY"]

            secret_url = f"{engine.base_url}/v1/admin/secrets/HOOLI_API_KEY"
            async with httpx.AsyncClient(trust_env=False, headers=engine.headers, timeout=30) as admin:
                stored = await admin.post(secret_url, json={"value": value})
            assert stored.status_code < 300, stored.text

            found = await session.call_tool("Hooli_ReadApiKeyFingerprint", {})
        assert not found.is_error
        assert [c.text for c in found.content] == [fingerprint(value)]
        assert value not in missing.model_dump_json() + found.model_dump_json()


class TestBadInput:
    async def test_a_tool_not_on_the_gateway_is_an_mcp_error(self, engine):
        async with mcp_session(gateway_url(engine), user_headers(engine, new_user())) as session:
            with pytest.raises(MCPError) as error:
                await session.call_tool("Hooli_Explode", {})
        assert error.value.code == types.INVALID_PARAMS  # the caller's mistake, not the server's
        assert "unknown tool Hooli_Explode on gateway hooli" in str(error.value)

    def test_an_unknown_slug_is_404_in_arcades_error_shape(self, engine):
        response = httpx.post(
            gateway_url(engine, "nowhere"), headers=user_headers(engine, "u"), json={}, timeout=30
        )
        assert response.status_code == 404
        assert response.json() == {"name": "not_found", "message": "MCP gateway nowhere not found"}

    @pytest.mark.parametrize("authorization", [None, "Bearer wrong-key"])
    def test_a_missing_or_wrong_api_key_is_401(self, engine, authorization):
        headers = {"Arcade-User-ID": "u"} | ({"Authorization": authorization} if authorization else {})
        response = httpx.post(gateway_url(engine), headers=headers, json={}, timeout=30)
        assert response.status_code == 401
        assert response.json()["name"] == "unauthorized"

    def test_a_key_of_another_project_than_the_gateways_finds_no_gateway(self, engine):
        headers = {"Authorization": f"Bearer {OTHER_PROJECT_KEY}", "Arcade-User-ID": "u"}
        response = httpx.post(gateway_url(engine), headers=headers, json={}, timeout=30)
        assert response.status_code == 404
        assert response.json() == {"name": "not_found", "message": "MCP gateway hooli not found"}

    @pytest.mark.parametrize("user", [None, "", "u" * 257], ids=["missing", "empty", "overlong"])
    def test_a_missing_empty_or_overlong_user_header_is_400_saying_so(self, engine, user):
        headers = {"Authorization": f"Bearer {engine.api_key}"}
        if user is not None:
            headers["Arcade-User-ID"] = user
        response = httpx.post(gateway_url(engine), headers=headers, json={}, timeout=30)
        assert (response.status_code, response.json()["name"]) == (400, "malformed_request")
        assert "Arcade-User-ID" in response.json()["message"]


ADMIN = "/v1/admin/mcp_gateways"


@pytest.fixture
def http(engine):
    with httpx.Client(base_url=engine.base_url, headers=engine.headers, timeout=30) as client:
        yield client


class TestAdminApi:
    async def test_a_gateway_created_through_the_api_is_served_changed_and_removed(self, engine, http):
        slug = f"api-{secrets.token_hex(3)}"
        body = {"slug": slug, "description": "pings", "instructions": "Ping first.", "tools": ["Hooli.Ping"]}
        created = http.post(ADMIN, json=body)
        assert created.status_code == 201, created.text
        assert created.json() | body == created.json()
        assert (created.json()["source"], created.json()["editable"]) == ("api", True)
        assert http.get(f"{ADMIN}/{slug}").json()["tools"] == ["Hooli.Ping"]

        headers = user_headers(engine, new_user())
        async with mcp_session(gateway_url(engine, slug), headers) as session:
            assert [t.name for t in (await session.list_tools()).tools] == ["Hooli_Ping"]
            assert (await session.initialize()).instructions == "Ping first."

        patched = http.patch(f"{ADMIN}/{slug}", json={"tools": ["Hooli.Nap*"]})
        assert patched.status_code == 200, patched.text
        assert patched.json()["description"] == "pings"
        async with mcp_session(gateway_url(engine, slug), headers) as session:
            assert {t.name for t in (await session.list_tools()).tools} == {"Hooli_Nap", "Hooli_NapSync"}

        assert http.delete(f"{ADMIN}/{slug}").status_code == 204
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            assert (await client.post(gateway_url(engine, slug), headers=headers, json={})).status_code == 404
        assert http.get(f"{ADMIN}/{slug}").status_code == 404

    def test_the_list_shows_engine_yaml_gateways_first_as_read_only(self, http):
        items = http.get(ADMIN, params={"limit": 100}).json()["items"]
        assert [(g["slug"], g["source"], g["editable"]) for g in items[:2]] == [
            ("hooli", "engine.yaml", False),
            ("everything", "engine.yaml", False),
        ]

    def test_engine_yaml_gateways_cannot_be_changed_or_removed_through_the_api(self, http):
        assert http.patch(f"{ADMIN}/hooli", json={"tools": ["*"]}).status_code == 409
        assert http.delete(f"{ADMIN}/hooli").status_code == 409
        taken = http.post(ADMIN, json={"slug": "hooli", "tools": ["*"]})
        assert (taken.status_code, taken.json()["name"]) == (409, "conflict")

    @pytest.mark.parametrize(
        "body",
        [
            {"slug": "Not A Slug", "tools": ["*"]},
            {"slug": "ok-slug", "tools": ["a.b.c"]},
            {"slug": "ok-slug", "tools": []},
            {"slug": "ok-slug", "tools": ["*"], "colour": "red"},
            {"slug": "ok-slug", "tools": ["*"], "auth": "oauth"},  # no auth.verification.oidc here
        ],
    )
    def test_a_bad_gateway_is_refused_with_400(self, http, body):
        response = http.post(ADMIN, json=body)
        assert (response.status_code, response.json()["name"]) == (400, "malformed_request")

    def test_the_admin_api_needs_the_api_key(self, engine):
        assert httpx.get(f"{engine.base_url}{ADMIN}", timeout=30).status_code == 401


@pytest.fixture
def other(engine):
    """An admin client of the project ``other``."""
    headers = {"Authorization": f"Bearer {OTHER_PROJECT_KEY}"}
    with httpx.Client(base_url=engine.base_url, headers=headers, timeout=30) as client:
        yield client


def other_user_headers(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {OTHER_PROJECT_KEY}", "Arcade-User-ID": user}


class TestGatewaysBelongToAProject:
    def test_an_engine_yaml_gateway_naming_a_project_is_that_projects_only(self, http, other):
        assert [g["slug"] for g in other.get(ADMIN).json()["items"]] == ["others-pings"]
        defaults = http.get(ADMIN, params={"limit": 100}).json()["items"]
        assert "others-pings" not in [g["slug"] for g in defaults]
        assert http.get(f"{ADMIN}/others-pings").status_code == 404
        assert http.delete(f"{ADMIN}/others-pings").status_code == 404
        assert other.get(f"{ADMIN}/others-pings").json()["project"] == "other"
        assert other.get(f"{ADMIN}/hooli").status_code == 404
        assert other.patch(f"{ADMIN}/hooli", json={"tools": ["*"]}).status_code == 404

    async def test_a_gateway_created_with_a_projects_key_is_invisible_to_the_others(
        self, engine, http, other
    ):
        slug = f"b-{secrets.token_hex(3)}"
        created = other.post(ADMIN, json={"slug": slug, "tools": ["Hooli.*"]})
        assert (created.status_code, created.json()["project"]) == (201, "other")
        for answer in (
            http.get(f"{ADMIN}/{slug}"),
            http.patch(f"{ADMIN}/{slug}", json={"tools": ["*"]}),
            http.delete(f"{ADMIN}/{slug}"),
        ):
            assert (answer.status_code, answer.json()["name"]) == (404, "not_found")
        assert slug not in [g["slug"] for g in http.get(ADMIN, params={"limit": 100}).json()["items"]]
        assert other.get(f"/v1/orgs/o/projects/other/admin/mcp_gateways/{slug}").json()["slug"] == slug

        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            refused = await client.post(gateway_url(engine, slug), headers=user_headers(engine, "u"), json={})
        assert (refused.status_code, refused.json()["name"]) == (404, "not_found")
        async with mcp_session(gateway_url(engine, slug), other_user_headers(new_user())) as session:
            assert "Hooli_Ping" in {t.name for t in (await session.list_tools()).tools}

        assert other.delete(f"{ADMIN}/{slug}").status_code == 204
        assert other.get(f"{ADMIN}/{slug}").status_code == 404

    def test_a_gateway_cannot_be_created_in_another_project_than_the_keys(self, other):
        body = {"slug": f"c-{secrets.token_hex(3)}", "tools": ["*"], "project": "default"}
        response = other.post(ADMIN, json=body)
        assert (response.status_code, response.json()["name"]) == (400, "malformed_request")
        assert "project" in response.json()["message"]

    async def test_a_projects_gateway_runs_tools_for_that_projects_users_and_tokens(self, engine, other):
        user, slug = new_user(), f"d-{secrets.token_hex(3)}"
        assert other.post(ADMIN, json={"slug": slug, "tools": ["*"]}).status_code == 201
        async with mcp_session(gateway_url(engine, slug), other_user_headers(user)) as session:
            first = await session.call_tool("Hooli_ReticulateSplines", {"num_splines": 2})
            assert first.is_error
            url = json.loads(first.content[1].text)["authorization_url"]
            await consent_and_follow(url, login="dinesh", callback_prefix=engine.redirect_uri)
            ran = await session.call_tool("Hooli_ReticulateSplines", {"num_splines": 2})
        assert not ran.is_error and json.loads(ran.content[0].text)["user_id"] == user

        async with mcp_session(gateway_url(engine), user_headers(engine, user)) as session:
            in_default = await session.call_tool("Hooli_ReticulateSplines", {"num_splines": 2})
        assert in_default.is_error and "authorization_url" in in_default.content[1].text
        assert other.delete(f"{ADMIN}/{slug}").status_code == 204

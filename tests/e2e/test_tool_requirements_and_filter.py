"""``POST /v1/tools/requirements`` and the tools list ``filter``, through arcadepy against the engine.

arcadepy 1.10 has no method for either (arcadejs sends ``filter``; the requirements route is in
Arcade's spec only), so the client's own request methods carry them: ``extra_query`` and ``post``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from arcadepy import AsyncArcade

from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.client_stack import hooli_engine
from tests.support.engine import Engine
from tests.support.oauth_server import OAuthServer

pytestmark = pytest.mark.e2e

SPLINES = "Hooli.ReticulateSplines"
SECRET_TOOL = "Hooli.ReadApiKeyFingerprint"
BOTH_LISTS = ("/v1/tools", "/v1/formatted_tools")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, nats_url, redis_url) -> Iterator[tuple[Engine, OAuthServer]]:
    with hooli_engine(tmp_path_factory.mktemp("requirements"), nats_url=nats_url, redis_url=redis_url) as s:
        yield s


@pytest.fixture
def client(stack) -> AsyncArcade:
    engine = stack[0]
    return AsyncArcade(base_url=engine.base_url, api_key=engine.api_key, max_retries=0)


async def requirements(client: AsyncArcade, **body: Any) -> dict[str, Any]:
    answer: dict[str, Any] = await client.post("/v1/tools/requirements", body=body, cast_to=object)
    return answer


async def listed(client: AsyncArcade, spec: Any, **query: Any) -> list[str]:
    extra = {"filter": json.dumps(spec), **query}
    page = await client.tools.list(toolkit="hooli", limit=100, extra_query=extra)
    return sorted(tool.qualified_name for tool in page.items)


class TestRequirements:
    async def test_a_tool_needing_auth_is_unmet_then_met_once_the_user_consented(self, stack, client):
        engine, _ = stack
        user = new_user("reqs")
        before = await requirements(client, user_id=user, tool_names=[SPLINES])
        item = before["authorization"]["items"]["hooli"]
        assert before["met"] is False and (item["met"], item["token_status"]) == (False, "not_started")
        assert item["tool_names"] == [SPLINES] and item["scopes"] == ["scope1", "scope2"]

        started = await requirements(client, user_id=user, tool_names=[SPLINES], authorize=True)
        pending = started["authorization"]["items"]["hooli"]
        assert pending["token_status"] == "pending" and pending["authorization_id"]
        await consent_and_follow(pending["url"], login=user, callback_prefix=engine.redirect_uri)

        after = await requirements(client, user_id=user, tools=[{"tool_name": SPLINES}])
        item = after["authorization"]["items"]["hooli"]
        assert after["met"] is True and (item["met"], item["token_status"]) == (True, "completed")
        status = await client.auth.status(id=pending["authorization_id"])
        assert status.status == "completed"

    async def test_a_missing_secret_is_named_with_the_tool_that_needs_it(self, client):
        body = await requirements(client, user_id=new_user("reqs"), tool_names=[SECRET_TOOL, "Hooli.Ping"])
        assert body["secrets"] == {
            "met": False,
            "items": {
                "HOOLI_API_KEY": {
                    "met": False,
                    "status_reason": "secret not found: HOOLI_API_KEY",
                    "tool_names": [SECRET_TOOL],
                }
            },
        }
        assert body["authorization"] == {"met": True, "items": {}}

    @pytest.mark.parametrize(
        ("body", "status", "name"),
        [
            ({"tool_names": [SPLINES]}, 400, "malformed_request"),
            ({"user_id": "u"}, 400, "malformed_request"),
            ({"user_id": "u", "tool_names": "Hooli.Ping"}, 400, "malformed_request"),
            ({"user_id": "u", "tools": [{"tool_version": "1"}]}, 400, "malformed_request"),
            ({"user_id": "u", "tool_names": ["Hooli.Nope"]}, 404, "not_found"),
            ({"user_id": "u", "tool_names": ["nodot"]}, 400, "malformed_request"),
        ],
    )
    def test_bad_input_is_answered_in_the_error_shape(self, stack, body, status, name):
        engine = stack[0]
        response = httpx.post(
            f"{engine.base_url}/v1/tools/requirements",
            json=body,
            headers={"Authorization": f"Bearer {engine.api_key}"},
            trust_env=False,
        )
        assert response.status_code == status
        assert response.json()["name"] == name and response.json()["message"]


class TestListFilter:
    async def test_array_fields_select_by_domain_and_operation(self, client):
        assert await listed(client, {"service_domains": ["PROJECT_MANAGEMENT"]}) == [SPLINES]
        assert await listed(client, {"operations": {"any_of": ["read", "update"]}}) == [SECRET_TOOL, SPLINES]
        none_of = await listed(client, {"operations": {"none_of": ["read", "update"]}})
        assert SPLINES not in none_of and SECRET_TOOL not in none_of and "Hooli.Ping" in none_of

    async def test_flags_and_extras_select_too(self, client):
        assert await listed(client, {"read_only": True}) == [SECRET_TOOL]
        assert await listed(client, {"extras": {"team": "splines"}, "destructive": False}) == [SPLINES]

    async def test_the_filter_applies_before_paging_and_to_formatted_lists(self, client):
        page = await client.tools.list(limit=1, extra_query={"filter": json.dumps({"read_only": True})})
        assert page.total_count == 1 and [t.qualified_name for t in page.items] == [SECRET_TOOL]
        formatted = await client.tools.formatted.list(
            format="openai", extra_query={"filter": json.dumps({"read_only": False})}
        )
        assert sorted(t["function"]["name"] for t in formatted.items) == ["Hooli_ReticulateSplines"]

    @pytest.mark.parametrize(
        ("paths", "query"),
        [
            (BOTH_LISTS, {"filter": "{not json"}),
            (BOTH_LISTS, {"filter": '{"domains": ["email"]}'}),
            (BOTH_LISTS, {"filter": '{"operations": {"most_of": ["read"]}}'}),
            (BOTH_LISTS, {"filter": '{"operations": ["reed"]}'}),
            (BOTH_LISTS, {"include_all_versions": "perhaps"}),
            (BOTH_LISTS, {"limit": "ten"}),
            (BOTH_LISTS, {"offset": "-1"}),
            (("/v1/tools",), {"include_format": "openai,yaml"}),
            (("/v1/formatted_tools",), {"format": "yaml"}),
        ],
    )
    def test_unknown_values_are_a_400_in_the_error_shape(self, stack, paths, query):
        engine = stack[0]
        for path in paths:
            response = httpx.get(
                f"{engine.base_url}{path}",
                params=query,
                headers={"Authorization": f"Bearer {engine.api_key}"},
                trust_env=False,
            )
            assert response.status_code == 400, (path, response.text)
            assert response.json()["name"] == "malformed_request"

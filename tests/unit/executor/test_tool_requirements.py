"""``POST /v1/tools/requirements`` in the executor: authorizations per provider, secrets per key (§3.4)."""

from types import SimpleNamespace

import httpx
import pytest

from services.executor.adapters import Providers, RpcAuthorizer
from services.executor.catalog import ToolCatalog
from services.executor.tool_service import ToolService
from shared.bus import subjects
from shared.contracts.execution import CheckRequirements, ToolRef
from shared.errors import BadRequest, NotFound
from tests.unit.executor.test_execute import (
    HOOLI_AUTH,
    FakeFinder,
    FakeRpc,
    FakeSecrets,
    FakeSource,
    FakeTokens,
    definition,
    token,
)

WIDE_AUTH = {**HOOLI_AUTH, "oauth2": {"scopes": ["scope2", "scope1"]}}


class KeyedSecrets(FakeSecrets):
    async def keys(self, project="default"):
        return frozenset(k.lower() for k in self.values_by_key)


@pytest.fixture
async def world():
    source = FakeSource(
        definition("Ping"),
        definition("ReticulateSplines", auth=HOOLI_AUTH),
        definition("Widen", auth=WIDE_AUTH, secrets=["HOOLI_API_KEY"]),
        definition("ReadKey", secrets=["HOOLI_API_KEY", "OTHER_KEY"]),
        definition("Elsewhere", auth={"id": "nowhere", "oauth2": {"scopes": []}}),
    )
    catalog = ToolCatalog(httpx.AsyncClient())
    await catalog.load_in_process(source)
    tokens = FakeTokens()
    rpc = FakeRpc(tokens)
    service = ToolService(
        catalog,
        Providers(FakeFinder("hooli")),
        tokens,
        KeyedSecrets(HOOLI_API_KEY="k-1"),
        RpcAuthorizer(lambda: rpc),
        fresh=tokens.get,
    )
    return SimpleNamespace(service=service, tokens=tokens, rpc=rpc)


async def check(world, *names, **fields):
    request = CheckRequirements(user_id="gavin", tool_names=list(names), **fields)
    return (await world.service.requirements(request)).body


class TestAuthorizations:
    async def test_tools_of_one_provider_are_one_item_with_their_scopes_joined(self, world):
        body = await check(world, "Hooli.ReticulateSplines", "Hooli.Widen")
        assert body["authorization"] == {
            "met": False,
            "items": {
                "hooli": {
                    "authorization_id": None,
                    "met": False,
                    "provider_id": "hooli",
                    "provider_type": "oauth2",
                    "scopes": ["scope1", "scope2"],
                    "status": "active",
                    "token_status": "not_started",
                    "tool_names": ["Hooli.ReticulateSplines", "Hooli.Widen"],
                    "url": None,
                }
            },
        }
        assert body["met"] is False and world.rpc.requests == []

    async def test_a_token_covering_every_tools_scopes_meets_it(self, world):
        world.tokens.tokens[("gavin", "hooli")] = token(scopes=("scope1", "scope2"))
        body = await check(world, "Hooli.ReticulateSplines", "Hooli.Widen")
        item = body["authorization"]["items"]["hooli"]
        assert (item["met"], item["token_status"], body["met"]) == (True, "completed", True)

    async def test_a_token_covering_only_one_tool_does_not_meet_the_joined_scopes(self, world):
        world.tokens.tokens[("gavin", "hooli")] = token(scopes=("scope1",))
        assert (await check(world, "Hooli.ReticulateSplines"))["met"] is True
        assert (await check(world, "Hooli.ReticulateSplines", "Hooli.Widen"))["met"] is False

    async def test_authorize_starts_one_flow_for_the_joined_scopes_and_answers_its_url(self, world):
        body = await check(world, "Hooli.ReticulateSplines", "Hooli.Widen", authorize=True)
        item = body["authorization"]["items"]["hooli"]
        assert (item["token_status"], item["authorization_id"]) == ("pending", "ac_1")
        assert item["url"] == "https://auth.test/a?state=s"
        [(subject, start)] = world.rpc.requests
        assert subject == subjects.AUTH_START and start.user_id == "gavin"
        assert (start.requirement.id, start.requirement.scopes) == ("hooli", ["scope1", "scope2"])

    async def test_authorize_starts_nothing_for_a_met_requirement(self, world):
        world.tokens.tokens[("gavin", "hooli")] = token(scopes=("scope1",))
        await check(world, "Hooli.ReticulateSplines", authorize=True)
        assert world.rpc.requests == []

    async def test_a_provider_nobody_configured_is_inactive_and_never_authorized(self, world):
        body = await check(world, "Hooli.Elsewhere", authorize=True)
        item = body["authorization"]["items"]["nowhere"]
        assert (item["status"], item["met"], item["token_status"]) == ("inactive", False, None)
        assert world.rpc.requests == []


class TestSecrets:
    async def test_each_key_once_with_the_tools_needing_it(self, world):
        body = await check(world, "Hooli.Widen", "Hooli.ReadKey")
        assert body["secrets"] == {
            "met": False,
            "items": {
                "HOOLI_API_KEY": {
                    "met": True,
                    "status_reason": None,
                    "tool_names": ["Hooli.Widen", "Hooli.ReadKey"],
                },
                "OTHER_KEY": {
                    "met": False,
                    "status_reason": "secret not found: OTHER_KEY",
                    "tool_names": ["Hooli.ReadKey"],
                },
            },
        }


class TestTheRequest:
    async def test_tools_needing_nothing_are_met_with_empty_items(self, world):
        body = await check(world, "Hooli.Ping")
        assert body == {
            "met": True,
            "authorization": {"met": True, "items": {}},
            "secrets": {"met": True, "items": {}},
        }

    async def test_tools_by_ref_with_a_version_and_names_in_either_form_are_all_checked(self, world):
        tools = [ToolRef(tool_name="Hooli.ReadKey", tool_version="1.0.0")]
        body = await check(world, "Hooli_Widen", tools=tools)
        assert body["secrets"]["items"]["HOOLI_API_KEY"]["tool_names"] == ["Hooli.Widen", "Hooli.ReadKey"]

    async def test_no_tool_is_a_bad_request(self, world):
        with pytest.raises(BadRequest, match="tool_names or tools"):
            await check(world)

    async def test_an_unknown_tool_or_version_is_not_found(self, world):
        with pytest.raises(NotFound):
            await check(world, "Hooli.Nope")
        with pytest.raises(NotFound):
            await check(world, tools=[ToolRef(tool_name="Hooli.Ping", tool_version="9.9.9")])

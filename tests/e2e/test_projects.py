"""Projects and scoped keys: each key speaks for one project, with the role ``admin`` or ``agent``.

One engine serves the module, with the hooli provider and toolkit, and four keys of its own:
admin and agent of project ``a``, admin and agent of project ``b`` (plus ``VALETKEY_API_KEY``,
the admin of ``default``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from arcade_core.network.org_transport import build_org_scoped_async_http_client
from arcadepy import AsyncArcade

from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.client_stack import HOOLI_SCOPES, hooli_engine, userinfo
from tests.support.engine import Engine
from tests.support.oauth_server import OAuthServer

pytestmark = pytest.mark.e2e

KEYS = {
    ("a", "admin"): "vk_test_admin_a",
    ("a", "agent"): "vk_test_agent_a",
    ("b", "admin"): "vk_test_admin_b",
    ("b", "agent"): "vk_test_agent_b",
}
# What an agent key may reach (docs/arcade-compatibility.md §1.1); every other keyed route is admin.
AGENT_PATHS = re.compile(r"^/v1/(auth/|tools(/|$)|formatted_tools(/|$)|health$)")


def with_project_keys(config: dict[str, Any]) -> None:
    config["api"]["keys"] = [{"key": k, "project": p, "role": r} for (p, r), k in KEYS.items()]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, nats_url, redis_url) -> Iterator[tuple[Engine, OAuthServer]]:
    home = tmp_path_factory.mktemp("projects")
    with hooli_engine(home, nats_url=nats_url, redis_url=redis_url, tweak=with_project_keys) as s:
        yield s


@pytest.fixture(scope="module")
def engine(stack) -> Engine:
    return stack[0]


def client(engine: Engine, project: str, role: str, *, prefix: str = "") -> httpx.Client:
    """A client holding one of the module's keys; ``prefix`` goes between the host and ``/v1``'s rest."""
    headers = {"Authorization": f"Bearer {KEYS[(project, role)]}"}
    return httpx.Client(base_url=engine.base_url + prefix, headers=headers, trust_env=False, timeout=30)


def admin_operations(engine: Engine) -> list[tuple[str, str]]:
    """Every keyed operation of the served OpenAPI document outside the agent's paths."""
    document = httpx.get(f"{engine.base_url}/openapi.json", trust_env=False).json()
    return sorted(
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") and not AGENT_PATHS.match(path)
    )


class TestRoles:
    def test_an_agent_key_gets_403_on_every_admin_route(self, engine):
        operations = admin_operations(engine)
        assert len(operations) >= 25, operations  # providers, connections, workers, secrets, webhooks
        with client(engine, "a", "agent") as agent:
            answers = {op: agent.request(op[0], op[1], json={}) for op in operations}
        refused = {op: (r.status_code, r.json().get("name")) for op, r in answers.items()}
        assert set(refused.values()) == {(403, "admin_key_required")}, refused

    def test_an_admin_key_passes_the_role_check_on_the_same_routes(self, engine):
        with client(engine, "a", "admin") as admin:
            assert admin.get("/v1/admin/secrets").status_code == 200
            assert admin.get("/v1/workers").status_code == 200
            assert admin.get("/v1/admin/webhooks").status_code == 200
            assert admin.get("/v1/admin/auth_providers").status_code == 200

    def test_an_agent_key_starts_and_reads_authorizations_and_lists_and_runs_tools(self, engine):
        with client(engine, "a", "agent") as agent:
            body = {
                "auth_requirement": {"provider_id": "hooli", "oauth2": {"scopes": HOOLI_SCOPES}},
                "user_id": "agent-user@example.com",
            }
            started = agent.post("/v1/auth/authorize", json=body)
            assert started.status_code == 200 and started.json()["status"] == "pending", started.text
            status = agent.get("/v1/auth/status", params={"id": started.json()["id"]})
            assert status.status_code == 200 and status.json()["status"] == "pending"
            assert agent.get("/v1/tools").json()["total_count"] > 0
            assert agent.get("/v1/formatted_tools").status_code == 200
            assert agent.get("/v1/health").status_code == 200
            execute = {"tool_name": "Hooli.ReticulateSplines", "user_id": "agent-user@example.com"}
            ran = agent.post("/v1/tools/execute", json=execute)
            assert (ran.status_code, ran.json()["name"]) == (403, "tool_authorization_required"), ran.text

    def test_the_environment_key_is_still_the_default_projects_admin(self, engine):
        with httpx.Client(base_url=engine.base_url, headers=engine.headers, trust_env=False) as admin:
            assert admin.get("/v1/admin/secrets").status_code == 200


def scoped_arcade(engine: Engine, project: str, role: str) -> AsyncArcade:
    """The client arcade-mcp-server builds after ``arcade login`` for a key without ``arc_``:
    AsyncArcade over arcade_core's transport that moves every ``/v1/...`` under the project."""
    http = build_org_scoped_async_http_client("org-1", project, client_kwargs={"trust_env": False})
    return AsyncArcade(api_key=KEYS[(project, role)], base_url=engine.base_url, http_client=http)


class TestProjectPaths:
    async def test_arcadepy_over_arcade_mcp_servers_transport_authorizes_and_executes(self, stack):
        engine, oauth = stack
        client, user = scoped_arcade(engine, "a", "agent"), new_user("scoped")
        pending = await client.auth.start(user_id=user, provider="hooli", scopes=HOOLI_SCOPES)
        assert pending.status == "pending"
        await consent_and_follow(pending.url, login=user, callback_prefix=engine.redirect_uri)
        done = await client.auth.wait_for_completion(pending.id)
        assert done.status == "completed" and (await client.auth.status(id=pending.id)).status == "completed"
        ran = await client.tools.execute(
            tool_name="Hooli.ReticulateSplines", input={"num_splines": 3}, user_id=user
        )
        assert ran.success and ran.output.value["reticulated"] == 3, ran
        assert (await client.tools.list()).total_count
        me = userinfo(oauth, done.context.token)
        assert me.json()["sub"] == user

    async def test_a_key_on_another_projects_path_gets_403_project_forbidden(self, engine):
        with client(engine, "b", "admin", prefix="/v1/orgs/org-1/projects/a") as stranger:
            path = stranger.base_url.path
            assert path.endswith("/projects/a/")
            for method, route in [("GET", "tools"), ("GET", "admin/secrets"), ("GET", "auth/status?id=x")]:
                answer = stranger.request(method, route)
                assert (answer.status_code, answer.json()["name"]) == (403, "project_forbidden"), route

    def test_an_admin_route_on_the_keys_own_project_path_is_served(self, engine):
        with client(engine, "a", "admin", prefix="/v1/orgs/org-1/projects/a") as admin:
            assert admin.get("admin/secrets").status_code == 200

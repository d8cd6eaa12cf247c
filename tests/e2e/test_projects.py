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

from tests.e2e.webhook_support import until
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
AGENT_PATHS = re.compile(
    r"^/v1/(auth/|tools(/|$)|formatted_tools(/|$)|scheduled_tools(/|$)|health$|config$|chat/completions$)"
)


def with_project_keys(config: dict[str, Any]) -> None:
    config["api"]["keys"] = [{"key": k, "project": p, "role": r} for (p, r), k in KEYS.items()]
    config["webhooks"] = {"allow_private_targets": True}  # the receiver listens on loopback


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


@pytest.fixture(scope="module")
async def a_objects(stack) -> dict[str, str]:
    """Project a's objects: a user with a completed connection, and a pending authorization."""
    engine, _ = stack
    arcade, user = scoped_arcade(engine, "a", "agent"), new_user("owned-by-a")
    started = await arcade.auth.start(user_id=user, provider="hooli", scopes=HOOLI_SCOPES)
    await consent_and_follow(started.url, login=user, callback_prefix=engine.redirect_uri)
    done = await arcade.auth.wait_for_completion(started.id)
    again = await arcade.auth.start(user_id=user, provider="hooli", scopes=HOOLI_SCOPES)
    pending = await arcade.auth.start(user_id=new_user("pending-in-a"), provider="hooli", scopes=HOOLI_SCOPES)
    with client(engine, "a", "admin") as admin:
        connections = admin.get("/v1/admin/user_connections", params={"user_id": user}).json()["items"]
        admin_objects = create_admin_objects(admin)
    return admin_objects | {
        "user": user,
        "token": done.context.token,
        "flow": started.id,
        "connection_authorization": again.id,
        "pending": pending.id,
        "connection": connections[0]["id"],
    }


def create_admin_objects(admin: httpx.Client) -> dict[str, str]:
    """A runtime provider, a secret, a worker and a webhook endpoint of the admin key's project."""
    provider = {
        "id": "provider-of-a",
        "type": "oauth2",
        "oauth2": {
            "client_id": "c",
            "client_secret": "s",
            "authorize_request": {"endpoint": "https://idp.example/authorize"},
            "token_request": {"endpoint": "https://idp.example/token"},
        },
    }
    assert admin.post("/v1/admin/auth_providers", json=provider).status_code == 201
    secret = admin.post("/v1/admin/secrets/SECRET_OF_A", json={"value": "value-of-a"}).json()
    worker = {  # nothing listens there: saved all the same, its catalog empty
        "id": "worker-of-a",
        "http": {"uri": "http://127.0.0.1:9/", "secret": "w" * 32, "timeout": 1, "retry": 0},
    }
    assert admin.post("/v1/workers", json=worker).status_code == 201, "worker"
    hook = admin.post("/v1/admin/webhooks", json={"url": "http://127.0.0.1:9/hook", "enabled": False})
    assert hook.status_code == 201, hook.text
    return {
        "provider_id": "provider-of-a",
        "secret_id": secret["id"],
        "worker_id": "worker-of-a",
        "endpoint_id": hook.json()["id"],
    }


def execute_body(objects: dict[str, str]) -> dict[str, Any]:
    return {"tool_name": "Hooli.ReticulateSplines", "input": {"num_splines": 1}, "user_id": objects["user"]}


def start_body(objects: dict[str, str]) -> dict[str, Any]:
    return {
        "auth_requirement": {"provider_id": "hooli", "oauth2": {"scopes": HOOLI_SCOPES}},
        "user_id": objects["user"],
    }


#: Every operation that names an object of project a, as project b's keys send it, and what b
#: must get: ``404`` for an id of a's, or (``blind``) an answer that knows nothing of a's objects.
CROSS_PROJECT = {
    "status of a's pending authorization": ("GET", "/v1/auth/status?id={pending}", None, 404),
    "status of a's completed flow": ("GET", "/v1/auth/status?id={flow}", None, 404),
    "long-poll of a's completed flow": ("GET", "/v1/auth/status?id={flow}&wait=1", None, 404),
    "status of a's connection authorization": (
        "GET",
        "/v1/auth/status?id={connection_authorization}",
        None,
        404,
    ),
    "authorize for a's user": ("POST", "/v1/auth/authorize", start_body, "blind"),
    "tools/authorize for a's user": ("POST", "/v1/tools/authorize", execute_body, "blind"),
    "execute for a's user": ("POST", "/v1/tools/execute", execute_body, "blind"),
    "a's user's tool requirements": (
        "GET",
        "/v1/tools/Hooli.ReticulateSplines?user_id={user}",
        None,
        "blind",
    ),
    "a's connections by user": ("GET", "/v1/admin/user_connections?user_id={user}", None, "blind"),
    "every connection": ("GET", "/v1/admin/user_connections", None, "blind"),
    "delete a's connection": ("DELETE", "/v1/admin/user_connections/{connection}", None, 404),
    "every provider": ("GET", "/v1/admin/auth_providers", None, "blind"),
    "get a's provider": ("GET", "/v1/admin/auth_providers/{provider_id}", None, 404),
    "patch a's provider": (
        "PATCH",
        "/v1/admin/auth_providers/{provider_id}",
        lambda o: {"description": "x"},
        404,
    ),
    "delete a's provider": ("DELETE", "/v1/admin/auth_providers/{provider_id}", None, 404),
    "authorize with a's provider": (
        "POST",
        "/v1/auth/authorize",
        lambda o: {"auth_requirement": {"id": o["provider_id"]}, "user_id": "u"},
        404,
    ),
    "every secret": ("GET", "/v1/admin/secrets", None, "blind"),
    "delete a's secret": ("DELETE", "/v1/admin/secrets/{secret_id}", None, 404),
    "every worker": ("GET", "/v1/workers", None, "blind"),
    "get a's worker": ("GET", "/v1/workers/{worker_id}", None, 404),
    "patch a's worker": ("PATCH", "/v1/workers/{worker_id}", lambda o: {"enabled": False}, 404),
    "a's worker's health": ("GET", "/v1/workers/{worker_id}/health", None, 404),
    "a's worker's tools": ("GET", "/v1/workers/{worker_id}/tools", None, 404),
    "delete a's worker": ("DELETE", "/v1/workers/{worker_id}", None, 404),
    "every webhook endpoint": ("GET", "/v1/admin/webhooks", None, "blind"),
    "get a's endpoint": ("GET", "/v1/admin/webhooks/{endpoint_id}", None, 404),
    "patch a's endpoint": ("PATCH", "/v1/admin/webhooks/{endpoint_id}", lambda o: {"enabled": True}, 404),
    "rotate a's endpoint's secret": ("POST", "/v1/admin/webhooks/{endpoint_id}/rotate_secret", None, 404),
    "replay a's endpoint's dead letters": (
        "POST",
        "/v1/admin/webhooks/dead_letters/replay?endpoint_id={endpoint_id}",
        None,
        "none replayed",
    ),
    "delete a's endpoint": ("DELETE", "/v1/admin/webhooks/{endpoint_id}", None, 404),
}


def knows_nothing_of_a(response: httpx.Response, objects: dict[str, str]) -> bool:
    """An answer without a's token, connection or completed authorization (b's user has none)."""
    text = response.text
    owned = [value for name, value in objects.items() if name != "user"]  # b may name the same user id
    if response.status_code >= 500 or any(value in text for value in owned):
        return False
    body = response.json()
    if "items" in body:
        return all(item.get("user_id") != objects["user"] for item in body["items"])
    if "requirements" in body:  # a tool definition: b's user holds no token
        return body["requirements"]["authorization"]["token_status"] != "completed"
    return body.get("status") != "completed"


class TestIsolation:
    @pytest.mark.parametrize("operation", sorted(CROSS_PROJECT))
    @pytest.mark.parametrize("role", ["admin", "agent"])
    def test_a_key_of_project_b_never_reaches_project_as_objects(self, engine, a_objects, operation, role):
        method, path, body, expected = CROSS_PROJECT[operation]
        if role == "agent" and not AGENT_PATHS.match(path.split("?")[0]):
            expected = 403  # stopped by its role before any project is looked at (TestRoles)
        with client(engine, "b", role) as stranger:
            answer = stranger.request(
                method, path.format(**a_objects), json=body(a_objects) if body else None
            )
        if expected == 403:
            assert (answer.status_code, answer.json()["name"]) == (403, "admin_key_required"), answer.text
        elif expected == 404:
            assert (answer.status_code, answer.json()["name"]) == (404, "not_found"), answer.text
        elif expected == "none replayed":
            assert answer.json() == {"replayed": 0}, answer.text
        else:
            assert knows_nothing_of_a(answer, a_objects), (answer.status_code, answer.text)

    def test_project_as_admin_objects_are_still_there_for_a(self, engine, a_objects):
        with client(engine, "a", "admin") as admin:
            for path in ("auth_providers/{provider_id}", "webhooks/{endpoint_id}"):
                assert admin.get("/v1/admin/" + path.format(**a_objects)).status_code == 200, path
            assert admin.get(f"/v1/workers/{a_objects['worker_id']}").status_code == 200
            assert a_objects["secret_id"] in admin.get("/v1/admin/secrets").text

    def test_project_as_own_keys_still_see_their_objects(self, engine, a_objects):
        with client(engine, "a", "agent") as owner:
            status = owner.get("/v1/auth/status", params={"id": a_objects["flow"]}).json()
            assert status["status"] == "completed" and status["context"]["token"] == a_objects["token"]
        with client(engine, "a", "admin") as admin:
            listed = admin.get("/v1/admin/user_connections").json()["items"]
            assert a_objects["connection"] in [item["id"] for item in listed]

    def test_the_same_user_id_in_two_projects_holds_two_connections(self, engine, a_objects):
        with client(engine, "b", "agent") as b:
            started = b.post("/v1/auth/authorize", json=start_body(a_objects)).json()
        assert started["status"] == "pending" and started["id"] != a_objects["connection_authorization"]


class TestEvents:
    async def test_a_webhook_endpoint_of_project_b_never_receives_project_as_events(self, engine, receiver):
        endpoints = {}
        for project in ("a", "b"):
            with client(engine, project, "admin") as admin:
                created = admin.post("/v1/admin/webhooks", json={"url": receiver.url(f"/{project}")})
                assert created.status_code == 201, created.text
                endpoints[project] = created.json()["id"]
        run = {"tool_name": "Hooli.Nap", "input": {"seconds": 0}, "webhook": True}
        with client(engine, "a", "agent") as a:
            assert a.post("/v1/tools/execute", json=run).status_code == 200
        await until(lambda: len(receiver.accepted("/a")) == 1, what="a's event at a's endpoint")
        # b's own event next: once it has arrived, a's (fanned out before it) had its chance too.
        with client(engine, "b", "agent") as b:
            assert b.post("/v1/tools/execute", json=run).status_code == 200
        await until(lambda: len(receiver.accepted("/b")) == 1, what="b's event at b's endpoint")
        assert receiver.ids("/a").isdisjoint(receiver.ids("/b"))
        assert len(receiver.on("/b")) == 1 and len(receiver.on("/a")) == 1
        for project, endpoint_id in endpoints.items():
            with client(engine, project, "admin") as admin:
                admin.delete(f"/v1/admin/webhooks/{endpoint_id}")

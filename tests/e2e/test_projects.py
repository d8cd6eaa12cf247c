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

from tests.support.client_stack import HOOLI_SCOPES, hooli_engine
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

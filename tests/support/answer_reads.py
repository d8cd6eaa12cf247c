"""Reads of the gateway's cached answers for the e2e tests (tests/e2e/test_answer_cache*.py): a
user who consented at hooli, status reads, and how many of them reached the authorizer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.engine import Engine


def with_project_key(key: str, project: str = "other") -> Callable[[dict[str, Any]], None]:
    """An engine.yaml tweak: ``key`` is an admin key of ``project``, the engine's only other one."""

    def tweak(config: dict[str, Any]) -> None:
        config["api"]["keys"] = [{"key": key, "project": project, "role": "admin"}]

    return tweak


def http(engine: Engine, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key or engine.api_key}"}
    return httpx.AsyncClient(base_url=engine.base_url, headers=headers, trust_env=False, timeout=30)


def status_reads(engine: Engine) -> int:
    """How many status reads the authorizer answered (its ``rpc.handled`` lines)."""
    count = 0
    for line in engine.log_path("authorizer").read_text(errors="replace").splitlines():
        if '"rpc.handled"' in line and json.loads(line).get("message_type") == "GetAuthorization":
            count += 1
    return count


async def connect(engine: Engine, scopes: list[str], user: str | None = None) -> tuple[str, str]:
    """A user who consented to ``scopes`` at hooli: the user, and the authorization's id."""
    user = user or new_user("cache")
    async with http(engine) as api:
        body = {"user_id": user, "auth_requirement": {"provider_id": "hooli", "oauth2": {"scopes": scopes}}}
        pending = (await api.post("/v1/auth/authorize", json=body)).json()
        assert pending["status"] == "pending", pending
        await consent_and_follow(pending["url"], login=user, callback_prefix=engine.redirect_uri)
        done = (await api.get("/v1/auth/status", params={"id": pending["id"], "wait": 30})).json()
    assert done.get("status") == "completed", done
    return user, pending["id"]


async def held(engine: Engine, user: str, scopes: list[str]) -> dict[str, Any]:
    """``POST /v1/auth/authorize`` for a user who holds a covering token: completed, the connection's id."""
    async with http(engine) as api:
        body = {"user_id": user, "auth_requirement": {"provider_id": "hooli", "oauth2": {"scopes": scopes}}}
        answer = (await api.post("/v1/auth/authorize", json=body)).json()
    assert answer["status"] == "completed", answer
    return answer


async def status(engine: Engine, auth_id: str, key: str | None = None) -> httpx.Response:
    async with http(engine, key) as api:
        return await api.get("/v1/auth/status", params={"id": auth_id})

"""@arcadeai/arcadejs under node runs the seed pages' JavaScript against the engine.

The scripts under tests/node/clients are the seeds' code; only ARCADE_BASE_URL and
ARCADE_API_KEY (read by the client itself) point them here. The provider is the real
OAuth server; the scripted browser consents when a script prints the URL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.client_stack import HOOLI_SCOPES, hooli_engine, userinfo
from tests.support.engine import Engine
from tests.support.node_clients import client_env, run_script
from tests.support.oauth_server import OAuthServer, ensure_node_modules

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory, nats_url, redis_url) -> Iterator[tuple[Engine, OAuthServer]]:
    ensure_node_modules()  # arcadejs comes with the npm project's lock file
    with hooli_engine(tmp_path_factory.mktemp("arcadejs"), nats_url=nats_url, redis_url=redis_url) as s:
        yield s


@pytest.fixture(scope="module")
def engine(stack) -> Engine:
    return stack[0]


@pytest.fixture(scope="module")
def oauth(stack) -> OAuthServer:
    return stack[1]


def browser_for(engine: Engine, login: str, seen: list[str]):
    """The user at the browser: signs in as ``login`` and approves whatever URL the app shows."""

    async def on_url(url: str) -> None:
        seen.append(url)
        await consent_and_follow(url, login=login, callback_prefix=engine.redirect_uri)

    return on_url


class TestSeed004GetATokenForAUser:
    async def test_start_prints_a_url_consent_completes_and_the_token_works_at_the_provider(
        self, engine, oauth
    ):
        user, urls = new_user("js-direct"), []
        env = client_env(engine, VK_USER_ID=user, VK_PROVIDER="hooli", VK_SCOPES=" ".join(HOOLI_SCOPES))
        result, lines = await run_script("direct_token.mjs", env, browser_for(engine, user, urls))
        assert lines[0] == "Please complete the authorization challenge in your browser:"
        assert len(urls) == 1 and urls[0].startswith(oauth.authorize_endpoint)
        assert (result["first_status"], result["status"]) == ("pending", "completed")
        me = await asyncio.to_thread(userinfo, oauth, result["token"])
        assert me.status_code == 200 and me.json()["sub"] == user

        again, lines = await run_script("direct_token.mjs", env, browser_for(engine, user, urls))
        assert (again["first_status"], again["status"]) == ("completed", "completed")
        assert again["token"] and len(urls) == 1 and len(lines) == 1  # no URL printed the second time


class TestSeed003AuthorizedToolCalling:
    async def test_authorize_wait_then_execute_runs_the_tool_with_the_users_token(self, engine):
        user, urls = new_user("js-tool"), []
        env = client_env(
            engine,
            VK_USER_ID=user,
            VK_TOOL_NAME="Hooli.ReticulateSplines",
            VK_TOOL_INPUT=json.dumps({"num_splines": 4}),
        )
        result, lines = await run_script("authorize_tool.mjs", env, browser_for(engine, user, urls))
        assert lines[0].startswith("Click this link to authorize: http")
        assert (result["authorize_status"], result["success"]) == ("pending", True), result["error"]
        assert result["value"]["reticulated"] == 4 and result["value"]["sub"] == user
        assert result["value"]["user_id"] == user

        again, _ = await run_script("authorize_tool.mjs", env, browser_for(engine, user, urls))
        assert (again["authorize_status"], again["success"], len(urls)) == ("completed", True, 1)


class TestListingTools:
    async def test_auto_pagination_formatted_lists_and_requirements_come_through(self, engine):
        env = client_env(engine, VK_TOOLKIT="Hooli", VK_USER_ID=new_user("js-list"))
        result, _ = await run_script("list_tools.mjs", env)
        assert len(result["names"]) == 7 and "Hooli.ReticulateSplines" in result["names"]
        assert "Hooli_ReticulateSplines" in result["openai"] and result["total_count"] == 7
        assert result["anthropic_name"] == "Hooli_Ping"
        requirements = result["requirements"]
        assert requirements["met"] is False
        assert requirements["authorization"]["token_status"] == "not_started"
        assert result["read_only"] == ["Hooli.ReadApiKeyFingerprint"]  # the metadata filter


class TestErrors:
    async def test_a_wrong_key_is_an_authentication_error_on_every_call(self, engine):
        result, _ = await run_script("errors.mjs", client_env(engine, api_key="arc_wrong_key"))
        assert {(r["kind"], r["status"]) for r in result.values()} == {("AuthenticationError", 401)}
        assert all(set(r["body"]) == {"name", "message"} for r in result.values())

    async def test_unknown_things_are_not_found_and_a_bad_name_a_bad_request(self, engine):
        result, _ = await run_script("errors.mjs", client_env(engine))
        kinds = {name: (r["kind"], r["status"]) for name, r in result.items()}
        assert kinds == {
            "list_tools": ("ok", None),
            "get_unknown_tool": ("NotFoundError", 404),
            "execute_unknown_tool": ("NotFoundError", 404),
            "authorize_unknown_tool": ("NotFoundError", 404),
            "unparseable_tool_name": ("BadRequestError", 400),
            "unknown_authorization": ("NotFoundError", 404),
            "unknown_worker": ("NotFoundError", 404),
            "unknown_provider": ("NotFoundError", 404),
        }
        assert result["execute_unknown_tool"]["body"]["name"] == "not_found"
        assert result["unparseable_tool_name"]["body"]["name"] == "malformed_request"


class TestScheduledToolCalling:
    async def test_a_run_two_seconds_ahead_is_listed_pending_and_after_an_executor_restart_has_run(
        self, engine
    ):
        user = new_user("js-scheduled")
        run_at = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S")
        common = {
            "VK_USER_ID": user,
            "VK_TOOL_NAME": "Hooli.Nap",
            "VK_TOOL_INPUT": json.dumps({"seconds": 0.25}),
        }
        env = client_env(engine, VK_PHASE="schedule", VK_RUN_AT=run_at, **common)
        scheduled, _ = await run_script("scheduled_tool.mjs", env)
        assert (scheduled["type"], scheduled["status"], scheduled["listed"]) == (
            "scheduled",
            "pending",
            ["pending"],
        )

        await asyncio.to_thread(engine.restart_service, "executor")

        env = client_env(engine, VK_PHASE="read", VK_EXECUTION_ID=scheduled["id"])
        ran, _ = await run_script("scheduled_tool.mjs", env)
        assert ran == {"status": "success", "attempts": 1, "success": True, "value": 0.25}

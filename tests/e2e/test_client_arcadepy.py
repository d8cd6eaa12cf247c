"""arcadepy, sync and async, runs the code of seeds 001, 002 and 004 against the engine.

authorization_flows/test_flows.py already runs the sync client's start → consent → wait
once; here both clients run the whole page: the URL printed, consent, ``wait_for_completion``,
``context.token`` at the provider's userinfo, and a second ``start`` completed at once.
Only the base URL and API key (read from the environment by the client) are ours.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from queue import Queue
from typing import Any

import pytest
from arcadepy import Arcade, AsyncArcade

from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.client_stack import HOOLI_SCOPES, hooli_engine, userinfo
from tests.support.engine import Engine
from tests.support.oauth_server import OAuthServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory, nats_url, redis_url) -> Iterator[tuple[Engine, OAuthServer]]:
    with hooli_engine(tmp_path_factory.mktemp("arcadepy"), nats_url=nats_url, redis_url=redis_url) as s:
        yield s


@pytest.fixture
def arcade_env(stack) -> Iterator[None]:
    """ARCADE_BASE_URL and ARCADE_API_KEY, as an app's deployment sets them."""
    engine = stack[0]
    os.environ |= {"ARCADE_BASE_URL": engine.base_url, "ARCADE_API_KEY": engine.api_key}
    yield
    for name in ("ARCADE_BASE_URL", "ARCADE_API_KEY"):
        os.environ.pop(name, None)


def seed_002_sync(user_id: str, shown: Queue[str]) -> Any:
    """Seed 002 ("Using OAuth 2.0 in app code"), with ``print`` handing the URL to the browser."""
    client = Arcade()  # Automatically finds the `ARCADE_API_KEY` env variable
    auth_response = client.auth.start(user_id=user_id, provider="hooli", scopes=HOOLI_SCOPES)
    first_status = auth_response.status
    if auth_response.status != "completed":
        shown.put(auth_response.authorization_url)  # seed 001/002 read this name
    auth_response = client.auth.wait_for_completion(auth_response)
    return first_status, auth_response


async def seed_004_async(user_id: str, shown: Queue[str]) -> Any:
    """Seed 004's Python, with AsyncArcade (the client agents-arcade apps hold)."""
    client = AsyncArcade()
    auth_response = await client.auth.start(user_id=user_id, provider="hooli", scopes=HOOLI_SCOPES)
    first_status = auth_response.status
    if auth_response.status != "completed":
        shown.put(auth_response.url)  # seed 004 reads this name
    auth_response = await client.auth.wait_for_completion(auth_response)
    return first_status, auth_response


async def consent_to(engine: Engine, shown: Queue[str], login: str) -> str:
    url = await asyncio.to_thread(shown.get, True, 30)
    await consent_and_follow(url, login=login, callback_prefix=engine.redirect_uri)
    return url


def run_sync(user: str, shown: Queue[str]) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(out=seed_002_sync(user, shown)), daemon=True)
    thread.start()
    return thread, result


async def assert_token_works(oauth: OAuthServer, response: Any, user: str) -> None:
    assert response.status == "completed" and response.context.token
    me = await asyncio.to_thread(userinfo, oauth, response.context.token)
    assert me.status_code == 200 and me.json()["sub"] == user


@pytest.mark.usefixtures("arcade_env")
class TestSyncClient:
    async def test_seed_002_start_consent_wait_token_then_a_second_start_is_completed_at_once(self, stack):
        engine, oauth = stack
        user, shown = new_user("py-sync"), Queue()
        thread, result = run_sync(user, shown)
        url = await consent_to(engine, shown, user)
        await asyncio.to_thread(thread.join, 30)
        first_status, response = result["out"]
        assert first_status == "pending" and url.startswith(oauth.authorize_endpoint)
        await assert_token_works(oauth, response, user)

        first_status, again = await asyncio.to_thread(seed_002_sync, user, shown)
        assert (first_status, again.context.token) == ("completed", response.context.token)
        assert shown.empty()


@pytest.mark.usefixtures("arcade_env")
class TestAsyncClient:
    async def test_seed_004_start_consent_wait_token_then_a_second_start_is_completed_at_once(self, stack):
        engine, oauth = stack
        user, shown = new_user("py-async"), Queue()
        app = asyncio.create_task(seed_004_async(user, shown))
        await consent_to(engine, shown, user)
        first_status, response = await asyncio.wait_for(app, 30)
        assert first_status == "pending"
        await assert_token_works(oauth, response, user)

        first_status, again = await seed_004_async(user, shown)
        assert (first_status, again.status) == ("completed", "completed")
        assert again.context.token == response.context.token and shown.empty()

    async def test_wait_for_completion_by_id_returns_as_soon_as_the_consent_lands(self, stack):
        engine, oauth = stack
        user = new_user("py-async-id")
        client = AsyncArcade()
        pending = await client.auth.start(user_id=user, provider="hooli", scopes=HOOLI_SCOPES)
        waiting = asyncio.create_task(client.auth.wait_for_completion(pending.id))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await consent_and_follow(pending.url, login=user, callback_prefix=engine.redirect_uri)
        await assert_token_works(oauth, await asyncio.wait_for(waiting, 10), user)

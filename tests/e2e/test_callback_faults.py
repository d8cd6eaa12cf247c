"""Callbacks that arrive twice, and processes killed while a callback is in flight.

One OAuth server (oidc-provider) with its token endpoint behind a delaying proxy, so a
test decides how long the engine stays inside the code exchange. The engine gives a
provider call ``PROVIDER_TIMEOUT_S`` and gives up an exchange ``EXCHANGE_GRACE_S`` after
that (its sweeper fails it as ``exchange_interrupted``). Every flow's final events are
read from the events NATS carries, counted by event id.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import nats
import pytest

from shared.bus import subjects
from shared.bus.flushing import reach_server
from tests.support.auth_flows import callback_url, deliver, new_user, start, status
from tests.support.engine import Engine, base_config, running_engine
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tests.support.slow_proxy import SlowProxy
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

SCOPES = ["openid", "profile"]
PROVIDER_TIMEOUT_S = 3.0
EXCHANGE_GRACE_S = 1.5
FLOWS = 10
# Bounds a failure only: a flow left pending would wait out this, never pass.
SETTLED_WITHIN_S = 40


@pytest.fixture(scope="module")
def port() -> int:
    return embedded.free_port()


@pytest.fixture(scope="module")
def oauth(tmp_path_factory: pytest.TempPathFactory, port: int) -> Iterator[OAuthServer]:
    client = OAuthClient("app", [f"http://127.0.0.1:{port}/oauth/callback"], client_secret="app-secret")
    with start_oauth_server(tmp_path_factory.mktemp("oauth"), clients=[client]) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(oauth: OAuthServer) -> Iterator[SlowProxy]:
    with SlowProxy(str(httpx.URL(oauth.issuer).copy_with(path="/"))) as slow:
        yield slow


@pytest.fixture
def slow_token_endpoint(proxy: SlowProxy) -> Iterator[SlowProxy]:
    """The proxy for one test; its delay goes back to none afterwards."""
    yield proxy
    proxy.delay = 0.0


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url, oauth, proxy, port) -> Iterator[Engine]:
    config = base_config(port, secrets.token_urlsafe(32))
    entry = oidc_provider_entry(oauth, id="slow", client_id="app", client_secret="app-secret")
    token_path = httpx.URL(oauth.token_endpoint).path
    entry["oauth2"]["token_request"]["endpoint"] = proxy.origin + token_path
    config["auth"]["providers"] = [entry]
    extra_env = {
        "VALETKEY_PROVIDER_TIMEOUT": str(PROVIDER_TIMEOUT_S),
        "VALETKEY_EXCHANGE_GRACE": str(EXCHANGE_GRACE_S),
    }
    with running_engine(
        tmp_path_factory.mktemp("engine"),
        nats_url=nats_url,
        redis_url=redis_url,
        config=config,
        extra_env=extra_env,
    ) as e:
        yield e


class FinalEvents:
    """The authorization events NATS carries, by authorization id and event id (a relay may
    publish one event twice; the stream and receivers drop the copy by its id)."""

    def __init__(self) -> None:
        self.by_authorization: dict[str, dict[str, str]] = defaultdict(dict)
        self._arrived = asyncio.Event()

    async def on_event(self, msg: Any) -> None:
        event = json.loads(msg.data)
        self.by_authorization[event["authorization_id"]][event["event_id"]] = event["type"]
        self._arrived.set()

    def of(self, auth_id: str) -> list[str]:
        return sorted(self.by_authorization[auth_id].values())

    async def wait_for_each(self, auth_ids: list[str]) -> None:
        """Until every authorization has an event; then a while longer, for a second one were there one."""
        while True:
            self._arrived.clear()
            if all(self.of(auth_id) for auth_id in auth_ids):
                break
            await self._arrived.wait()
        await asyncio.sleep(0.5)


@pytest.fixture
async def final_events(nats_url: str) -> AsyncIterator[FinalEvents]:
    seen = FinalEvents()
    client = await nats.connect(nats_url)
    await client.subscribe(subjects.EVT_AUTHORIZATION_ALL, cb=seen.on_event)
    await reach_server(client)  # every event of the flows that follow is heard
    try:
        yield seen
    finally:
        await client.drain()


async def consented_flows(engine: Engine, tag: str, count: int) -> list[tuple[str, httpx.URL]]:
    """``count`` authorizations, each consented at the OAuth server up to its callback."""

    async def one() -> tuple[str, httpx.URL]:
        user = new_user(tag)
        pending = await start(engine, user, provider="slow", scopes=SCOPES)
        return pending["id"], await callback_url(engine, pending["url"], login=user)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def settled(engine: Engine, auth_id: str) -> dict[str, Any]:
    """The authorization once it is completed or failed."""
    while True:
        answer = (await status(engine, auth_id, extras=True)).json()
        if answer["status"] in ("completed", "failed"):
            return dict(answer)
        await asyncio.sleep(0.2)


def page_says(page: httpx.Response, final: dict[str, Any]) -> bool:
    """The browser page tells the flow's real outcome."""
    if final["status"] == "completed":
        return page.status_code == 200 and "complete" in page.text.lower()
    return page.status_code == 400 and "failed" in page.text.lower()


class TestTwoCopiesOfOneCallback:
    async def test_each_flow_has_one_final_event_and_every_long_poll_answers_it(
        self, engine, oauth, slow_token_endpoint, final_events
    ):
        flows = await consented_flows(engine, "twice", FLOWS)
        slow_token_endpoint.delay = 0.5  # the second copy surely arrives during the exchange
        before = oauth.stats().token_requests.get("authorization_code", 0)
        polls = [asyncio.create_task(status(engine, auth_id, wait=30)) for auth_id, _ in flows]
        await asyncio.sleep(0.3)  # the long-polls wait before any callback arrives
        pages = await asyncio.gather(*(deliver(url) for _, url in flows for _copy in range(2)))
        assert all(page.status_code == 200 and "complete" in page.text.lower() for page in pages)
        answers = [(await asyncio.wait_for(poll, SETTLED_WITHIN_S)).json() for poll in polls]
        assert [a["status"] for a in answers] == ["completed"] * FLOWS
        ids = [auth_id for auth_id, _ in flows]
        await asyncio.wait_for(final_events.wait_for_each(ids), SETTLED_WITHIN_S)
        assert [final_events.of(auth_id) for auth_id in ids] == [["authorization.completed"]] * FLOWS
        assert oauth.stats().token_requests.get("authorization_code", 0) == before + FLOWS


class TestKilledMidCallback:
    async def test_an_authorizer_killed_inside_the_exchange_leaves_no_flow_pending(
        self, engine, slow_token_endpoint, final_events
    ):
        flows = await consented_flows(engine, "authz-killed", 5)
        slow_token_endpoint.delay = PROVIDER_TIMEOUT_S + 2  # past the kill
        arrived = slow_token_endpoint.arrived
        browsers = [asyncio.create_task(deliver(url)) for _, url in flows]
        await asyncio.to_thread(slow_token_endpoint.wait_for_arrivals, arrived + len(flows), 20)
        engine.stop_service("authorizer", signal.SIGKILL)
        engine.start_service("authorizer")
        await asyncio.to_thread(engine.wait_healthy)
        pages = await asyncio.wait_for(asyncio.gather(*browsers), SETTLED_WITHIN_S)
        finals = [await asyncio.wait_for(settled(engine, auth_id), 10) for auth_id, _ in flows]
        assert [(f["status"], f["failure_reason"]) for f in finals] == [
            ("failed", "exchange_interrupted")
        ] * len(flows)
        assert all(page_says(page, final) for page, final in zip(pages, finals, strict=True))
        assert all("start the authorization again" in page.text for page in pages)
        reloads = await asyncio.gather(*(deliver(url) for _, url in flows))
        assert all(page_says(page, final) for page, final in zip(reloads, finals, strict=True))
        ids = [auth_id for auth_id, _ in flows]
        await asyncio.wait_for(final_events.wait_for_each(ids), SETTLED_WITHIN_S)
        assert [final_events.of(auth_id) for auth_id in ids] == [["authorization.failed"]] * len(flows)

    async def test_a_gateway_killed_mid_callback_leaves_the_flow_to_finish_and_a_reload_shows_it(
        self, engine, slow_token_endpoint, final_events
    ):
        flows = await consented_flows(engine, "gw-killed", 5)
        slow_token_endpoint.delay = 1.0  # inside the provider timeout: the exchanges succeed
        arrived = slow_token_endpoint.arrived
        browsers = [asyncio.create_task(deliver(url)) for _, url in flows]
        await asyncio.to_thread(slow_token_endpoint.wait_for_arrivals, arrived + len(flows), 20)
        engine.stop_service("gateway", signal.SIGKILL)
        lost = await asyncio.gather(*browsers, return_exceptions=True)
        assert all(isinstance(page, httpx.TransportError) for page in lost)  # no page reached the user
        engine.start_service("gateway")
        await asyncio.to_thread(engine.wait_healthy)
        reloads = await asyncio.gather(*(deliver(url) for _, url in flows))
        finals = [await asyncio.wait_for(settled(engine, auth_id), 10) for auth_id, _ in flows]
        assert [f["status"] for f in finals] == ["completed"] * len(flows)
        assert all(page_says(page, final) for page, final in zip(reloads, finals, strict=True))
        ids = [auth_id for auth_id, _ in flows]
        await asyncio.wait_for(final_events.wait_for_each(ids), SETTLED_WITHIN_S)
        assert [final_events.of(auth_id) for auth_id in ids] == [["authorization.completed"]] * len(flows)

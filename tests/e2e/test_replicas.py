"""Two replicas of every service on a three-node NATS cluster (JetStream R3): a long-poll on one
gateway is answered when the callback lands on the other, and flows in flight when a NATS node
is killed complete or fail explicitly, none lost.

Redis is one Valkey here; the Redis Cluster layout is tested on its own
(tests/integration/test_cluster_servers.py).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from shared.bus import subjects
from tests.support.auth_flows import callback_url, deliver, new_user, start
from tests.support.cluster import LocalCluster, local_cluster
from tests.support.engine import Engine, base_config, running_engine
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tools.launcher import embedded

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

SCOPES = ["openid", "profile"]


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("nats-cluster"), valkey=False) as running:
        yield running


@pytest.fixture(scope="module")
def port() -> int:
    return embedded.free_port()


@pytest.fixture(scope="module")
def second_port() -> int:
    return embedded.free_port()


@pytest.fixture(scope="module")
def oauth(tmp_path_factory: pytest.TempPathFactory, port: int) -> Iterator[OAuthServer]:
    client = OAuthClient("replica-app", [f"http://127.0.0.1:{port}/oauth/callback"], client_secret="s3cret")
    with start_oauth_server(tmp_path_factory.mktemp("oauth"), clients=[client]) as server:
        yield server


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_cluster, redis_url, oauth, port, second_port) -> Iterator[Engine]:
    config = base_config(port, secrets.token_urlsafe(32))
    config["auth"]["providers"] = [
        oidc_provider_entry(oauth, id="hooli", client_id="replica-app", client_secret="s3cret")
    ]
    with running_engine(
        tmp_path_factory.mktemp("engine"),
        nats_url=nats_cluster.nats_url,
        redis_url=redis_url,
        config=config,
        extra_env={"VALETKEY_JETSTREAM_REPLICAS": "3"},
    ) as running:
        for service in subjects.SERVICES:
            extra = {"VALETKEY_HTTP_PORT": str(second_port)} if service == "gateway" else {}
            running.start_service(service, replica=2, extra_env=extra)
        running.wait_healthy()
        _wait_listening(second_port)
        yield running


def _wait_listening(port: int) -> None:
    for _ in range(300):
        if embedded.port_in_use(port):
            return
        time.sleep(0.1)
    raise AssertionError(f"the second gateway never listened on {port}")


async def _status(base_url: str, engine: Engine, auth_id: str, *, wait: int | None = None) -> dict:
    params: dict[str, str | int] = {"id": auth_id}
    if wait is not None:
        params["wait"] = wait
    async with httpx.AsyncClient(trust_env=False, timeout=70) as client:
        answer = await client.get(f"{base_url}/v1/auth/status", headers=engine.headers, params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_every_service_runs_two_replicas(engine):
    names = set(engine.procs)
    assert all({s, f"{s}-2"} <= names for s in subjects.SERVICES)
    assert all(proc.poll() is None for proc in engine.procs.values())


async def test_a_long_poll_on_one_gateway_is_answered_when_the_callback_lands_on_the_other(
    engine, second_port
):
    user = new_user("across")
    pending = await start(engine, user, provider="hooli", scopes=SCOPES)
    callback = await callback_url(engine, pending["url"], login=user)
    other = f"http://127.0.0.1:{second_port}"
    waiter = asyncio.create_task(_status(other, engine, pending["id"], wait=45))
    await asyncio.sleep(0.3)  # the long-poll is waiting on the second gateway
    assert not waiter.done()
    await deliver(callback)  # the callback URL is the first gateway's (public_url)
    done = await waiter
    assert done["status"] == "completed" and done["context"]["token"]


async def test_flows_in_flight_when_a_nats_node_dies_all_end_completed_or_failed(engine, nats_cluster):
    users = [new_user(f"node-dies-{i}") for i in range(20)]
    pending = [await start(engine, user, provider="hooli", scopes=SCOPES) for user in users]
    callbacks = [await callback_url(engine, p["url"], login=u) for p, u in zip(pending, users, strict=True)]
    victim = nats_cluster.nats_nodes[0]
    half = len(callbacks) // 2
    await asyncio.gather(*(deliver(c) for c in callbacks[:half]))
    nats_cluster.kill_nats(victim.name)
    try:
        await asyncio.gather(*(_deliver_until_answered(c) for c in callbacks[half:]))
        outcomes = Counter()
        for p in pending:
            outcomes[(await _status(engine.base_url, engine, p["id"], wait=20))["status"]] += 1
    finally:
        nats_cluster.start_nats(victim)
    print(f"20 flows across a NATS node's death: {dict(outcomes)}")
    assert outcomes["completed"] + outcomes["failed"] == len(pending)
    assert outcomes["completed"] >= half  # those before the kill at least


async def _deliver_until_answered(callback: httpx.URL) -> None:
    """The browser's retry: while the gateway's NATS connection moves to another node, a callback
    may get a 503 (service_unavailable, retryable); delivered again, the same state is honoured."""
    for _ in range(60):
        page = await deliver(callback, follow=False)
        if page.status_code != 503:
            return
        await asyncio.sleep(0.5)
    raise AssertionError("the callback was never answered")

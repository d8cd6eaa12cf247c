"""Nothing is lost when parts of the cluster die under load: 200 authorizations and 50 connections
refreshing every few seconds, while a NATS node, a Valkey primary and one replica of every service
are SIGKILLed.

The engine runs two replicas of every service on a three-node NATS cluster (JetStream R3) and a
Valkey Cluster of three primaries with a replica each. The callbacks go to the first gateway as a
browser sends them, retrying a 503 as a browser's user would. Afterwards every flow has ended
(completed, or failed with a reason: never pending, never unknown), every completion reached the
webhook receiver, and every refreshing connection still holds a token the provider accepts, fresher
than the kills. The counts are printed in the test output.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.bus import subjects
from tests.e2e.webhook_support import Receiver, RunningReceiver, endpoint, until
from tests.support.auth_flows import callback_url, deliver, new_user, start, status
from tests.support.cluster import LocalCluster, cross_slot_lines, local_cluster
from tests.support.engine import Engine, base_config, running_engine
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tools.launcher import embedded

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

FLOWS = 200
REFRESHING = 50
SCOPES = ["openid", "profile"]
FAST_TOKEN_S = 8  # the refreshing provider's access-token lifetime: refreshed every ~6 s
FAST_SCHEDULE = {"VALETKEY_REFRESHER_POLL_SECONDS": "0.2", "VALETKEY_REFRESHER_LEASE_SECONDS": "5"}
HOOK = "/hooks/failover"


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("failover-cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    with RunningReceiver(hooks):
        yield hooks


@pytest.fixture(scope="module")
def ports() -> tuple[int, int]:
    return embedded.free_port(), embedded.free_port()


def _oauth(tmp_path_factory: pytest.TempPathFactory, port: int, name: str, **options: Any) -> OAuthServer:
    client = OAuthClient(name, [f"http://127.0.0.1:{port}/oauth/callback"], client_secret=f"{name}-secret")
    return start_oauth_server(tmp_path_factory.mktemp(name), clients=[client], **options)


@pytest.fixture(scope="module")
def providers(tmp_path_factory, ports) -> Iterator[dict[str, OAuthServer]]:
    slow = _oauth(tmp_path_factory, ports[0], "hooli")
    fast = _oauth(tmp_path_factory, ports[0], "quick", access_token_ttl=FAST_TOKEN_S)
    try:
        yield {"hooli": slow, "quick": fast}
    finally:
        slow.stop()
        fast.stop()


@pytest.fixture(scope="module")
def engine(tmp_path_factory, clusters, providers, receiver, ports) -> Iterator[Engine]:
    first, second = ports
    config = base_config(first, secrets.token_urlsafe(32))
    config["auth"]["providers"] = [
        oidc_provider_entry(server, id=name, client_id=name, client_secret=f"{name}-secret")
        for name, server in providers.items()
    ]
    config["webhooks"] = {
        "endpoints": [endpoint("failover", receiver.url(HOOK), ["authorization.completed"])],
        "allow_private_targets": True,
    }
    with running_engine(
        tmp_path_factory.mktemp("engine"),
        nats_url=clusters.nats_url,
        redis_url=clusters.redis_url,
        config=config,
        extra_env={"VALETKEY_JETSTREAM_REPLICAS": "3", **FAST_SCHEDULE},
    ) as running:
        for service in subjects.SERVICES:
            extra = {"VALETKEY_HTTP_PORT": str(second)} if service == "gateway" else {}
            running.start_service(service, replica=2, extra_env=extra)
        running.wait_healthy()
        yield running
        refused = cross_slot_lines(running.all_logs())
        assert refused == [], refused[:5]


async def _consented(engine: Engine, provider: str, tag: str, count: int) -> list[tuple[str, str, httpx.URL]]:
    """``count`` authorizations started and consented at the provider, callbacks not yet delivered:
    (user, authorization id, callback URL) each."""
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> tuple[str, str, httpx.URL]:
        user = new_user(f"{tag}-{i}")
        async with gate:
            pending = await start(engine, user, provider=provider, scopes=SCOPES)
            return user, pending["id"], await callback_url(engine, pending["url"], login=user)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def _deliver_until_answered(callback: httpx.URL) -> int:
    """A browser's user retrying while a part is failing over: a 503 (retryable) is sent again."""
    for _ in range(120):
        try:
            page = await deliver(callback, follow=False)
        except httpx.TransportError:
            page = None
        if page is not None and page.status_code != 503:
            return page.status_code
        await asyncio.sleep(0.5)
    raise AssertionError(f"the callback was never answered: {callback}")


async def _final(engine: Engine, authorization_id: str) -> str:
    answer = await status(engine, authorization_id, wait=30)
    if answer.status_code != 200:
        return f"http {answer.status_code}"
    return str(answer.json()["status"])


async def _held_token(engine: Engine, user: str) -> str:
    """The token the engine serves for ``user`` at the quick provider (authorize with it held)."""
    body = {"user_id": user, "auth_requirement": {"provider_id": "quick", "oauth2": {"scopes": SCOPES}}}
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        answer = await client.post(f"{engine.base_url}/v1/auth/authorize", headers=engine.headers, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "completed", answer.text
    return str(answer.json()["context"]["token"])


async def _accepted_by_provider(server: OAuthServer, token: str) -> bool:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        answer = await client.get(server.userinfo_endpoint, headers={"Authorization": f"Bearer {token}"})
    return answer.status_code == 200


def _kill_one_replica_of_each_service(engine: Engine) -> None:
    for service in subjects.SERVICES:
        engine.procs[f"{service}-2"].kill()
        engine.procs[f"{service}-2"].wait(10)


async def test_nothing_is_lost_when_a_nats_node_a_valkey_primary_and_a_replica_of_each_service_die(
    engine, clusters, providers, receiver
):
    # 50 connections whose tokens live 8 s: the refreshers keep renewing them throughout.
    refreshing = await _consented(engine, "quick", "refreshing", REFRESHING)
    answered = await asyncio.gather(*(_deliver_until_answered(cb) for _, _, cb in refreshing))
    assert set(answered) <= {200, 302, 303}, Counter(answered)
    users = [user for user, _, _ in refreshing]
    before = {user: await _held_token(engine, user) for user in users}

    flows = await _consented(engine, "hooli", "flow", FLOWS)
    quarter = FLOWS // 4
    batches = [flows[i * quarter : (i + 1) * quarter] for i in range(4)]
    kills = [
        lambda: clusters.kill_nats(clusters.nats_nodes[0].name),
        lambda: clusters.kill_valkey(clusters.valkey_ports[0]),  # a primary: the first third are
        lambda: _kill_one_replica_of_each_service(engine),
    ]
    killed_at = time.time()
    answers: list[Counter[int]] = []
    # How long each quarter's callbacks took to be answered, 503s retried: after a kill, the
    # quarter's time is the recovery time as a browser's user sees it (the first is the baseline).
    answered_in: list[float] = []
    for batch, kill in zip(batches, [*kills, None], strict=True):
        began = time.monotonic()
        answers.append(Counter(await asyncio.gather(*(_deliver_until_answered(cb) for _, _, cb in batch))))
        answered_in.append(time.monotonic() - began)
        if kill is not None:
            kill()
    print(f"callback answers by quarter: {answers}")
    print(
        "seconds to answer each quarter (no kill, after the NATS node, after the Valkey primary, "
        f"after a replica of each service): {[round(s, 1) for s in answered_in]}"
    )
    finals = await asyncio.gather(*(_final(engine, auth_id) for _, auth_id, _ in flows))
    outcomes = Counter(finals)
    print(f"{FLOWS} flows across the kills: {dict(outcomes)}")
    assert outcomes["completed"] + outcomes["failed"] == FLOWS, outcomes

    completed = outcomes["completed"] + REFRESHING
    await until(
        lambda: len(receiver.accepted(HOOK)) >= completed, timeout=60, what="a webhook per completion"
    )
    # At least once, and no more than once per event: a redelivery keeps its webhook id, so every
    # completion, and nothing else, is one id, whichever replica of webhooks sent it.
    expected = {auth_id for _, auth_id, _ in refreshing} | {
        auth_id for (_, auth_id, _), final in zip(flows, finals, strict=True) if final == "completed"
    }
    deliveries = [r for r in receiver.on(HOOK) if 200 <= r.status < 300]
    delivered = Counter(json.loads(r.body)["data"]["authorization_id"] for r in deliveries)
    print(
        f"webhook deliveries of authorization.completed: {len(receiver.accepted(HOOK))} events for "
        f"{completed} completions, {len(deliveries)} accepted deliveries "
        f"({len(deliveries) - len(receiver.accepted(HOOK))} redelivered)"
    )
    assert set(delivered) == expected and len(receiver.accepted(HOOK)) == len(expected)

    # Every refreshing connection gets a token newer than the kills that the provider accepts.
    await asyncio.sleep(FAST_TOKEN_S)  # at least one more refresh of each after the kills
    renewed: dict[str, str] = {}
    accepted: list[bool] = []
    for user in users:  # each checked at once: a served token may have seconds left, never none
        renewed[user] = await _held_token(engine, user)
        accepted.append(await _accepted_by_provider(providers["quick"], renewed[user]))
    changed = sum(renewed[user] != before[user] for user in users)
    print(
        f"{REFRESHING} refreshing connections: {changed} renewed since before the kills, "
        f"{sum(accepted)} accepted by the provider ({time.time() - killed_at:.0f} s after the first kill)"
    )
    assert all(accepted) and changed == REFRESHING

    # None refreshed twice: the provider rotates refresh tokens and revokes a grant whose spent
    # refresh token comes back, so a refresh done twice would have revoked one. And the schedule
    # was shared: both refresher replicas refreshed connections.
    quick = providers["quick"].stats()
    by_replica = {name: _refreshed(engine, name) for name in ("token_refresher", "token_refresher-2")}
    print(
        f"refresh grants answered by the provider: {quick.token_requests.get('refresh_token', 0)}, "
        f"grants revoked: {quick.grants_revoked}; refreshes done by replica: {by_replica}"
    )
    assert quick.grants_revoked == 0
    assert all(by_replica.values()), by_replica


def _refreshed(engine: Engine, name: str) -> int:
    """Refreshes this refresher process logged as done with the provider (its log is JSON lines)."""
    done = 0
    for line in engine.log_path(name).read_text().splitlines():
        if '"refreshed"' not in line:
            continue
        try:  # a SIGKILLed replica's last line may be cut short
            record = json.loads(line)
        except ValueError:
            continue
        done += record.get("event") == "refresh" and record.get("outcome") == "refreshed"
    return done

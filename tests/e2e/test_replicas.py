"""Two replicas of every service on a three-node NATS cluster (JetStream R3) and a Valkey Cluster
(three primaries, three replicas; the keys in 16 shards): the streams and the webhooks' consumers
keep three copies, a long-poll on one gateway is answered when the callback lands on the other, a
tool runs with the token, the refresher renews it, the webhooks go out, the admin listing finds
it, a worker and a secret written through one replica serve calls on both executors, no service
meets a CROSSSLOT refusal, flows in flight when a NATS node is killed complete or fail
explicitly, none lost, and the Valkey Cluster still passes its check.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import nats
import pytest
from arcadepy import AsyncArcade

from services.webhooks.jetstream import delivery_consumer, fanout_consumer, namespace
from shared.bus import subjects
from shared.runtime.settings import RuntimeSettings
from tests.e2e.webhook_support import Receiver, RunningReceiver, endpoint, until
from tests.support.auth_flows import callback_url, deliver, new_user, start
from tests.support.cluster import LocalCluster, cross_slot_lines, local_cluster
from tests.support.deadlines import PROCESS_START_S
from tests.support.engine import Engine, base_config, running_engine
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tests.support.toolkits.hooli.tools import fingerprint
from tests.support.toolkits.vault.tools import fingerprint as vault_fingerprint
from tests.support.worker_app import running_worker
from tools.launcher import embedded

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

SCOPES = ["openid", "profile"]
# Access tokens live 12 s: the refresher renews each about 9 s after it was issued.
ACCESS_TTL_S = 12
VAULT_SECRET = "vault-worker-secret-0123456789abcdef"
# Calls per check, sent through both gateways at once: the executors' queue group shares them.
CALLS = 16


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    receiver = Receiver()
    with RunningReceiver(receiver):
        yield receiver


@pytest.fixture(scope="module")
def vault_worker() -> Iterator[str]:
    with running_worker(VAULT_SECRET, toolkits=["tests.support.toolkits.vault"]) as url:
        yield url


@pytest.fixture(scope="module")
def port() -> int:
    return embedded.free_port()


@pytest.fixture(scope="module")
def second_port() -> int:
    return embedded.free_port()


@pytest.fixture(scope="module")
def oauth(tmp_path_factory: pytest.TempPathFactory, port: int) -> Iterator[OAuthServer]:
    client = OAuthClient("replica-app", [f"http://127.0.0.1:{port}/oauth/callback"], client_secret="s3cret")
    with start_oauth_server(
        tmp_path_factory.mktemp("oauth"), clients=[client], access_token_ttl=ACCESS_TTL_S
    ) as server:
        yield server


@pytest.fixture(scope="module")
def engine(tmp_path_factory, cluster, oauth, hooks, port, second_port) -> Iterator[Engine]:
    config = base_config(port, secrets.token_urlsafe(32))
    config["auth"]["providers"] = [
        oidc_provider_entry(oauth, id="hooli", client_id="replica-app", client_secret="s3cret")
    ]
    config["tools"] = {"toolkits": ["tests.support.toolkits.hooli"], "directors": []}
    config["webhooks"] = {"endpoints": [endpoint("all", hooks.url("/all"))], "allow_private_targets": True}
    with running_engine(
        tmp_path_factory.mktemp("engine"),
        nats_url=cluster.nats_url,
        redis_url=cluster.redis_url,
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
    deadline = time.monotonic() + PROCESS_START_S
    while time.monotonic() < deadline:
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


async def test_the_streams_and_the_webhooks_consumers_keep_three_copies(engine):
    ns = namespace(engine.env["VALETKEY_KEY_PREFIX"])
    consumers = {
        subjects.EVENTS_STREAM: fanout_consumer(ns, ack_wait=1).durable_name,
        subjects.WEBHOOKS_STREAM: delivery_consumer(ns, ack_wait=1).durable_name,
    }
    nc = await nats.connect(RuntimeSettings(nats_url=engine.tester_nats_url).nats_servers)
    try:
        js = nc.jetstream()
        copies = {}
        for stream, consumer in consumers.items():
            info = await js.stream_info(stream)
            read = await js.consumer_info(stream, consumer or "")
            assert info.cluster is not None and read.cluster is not None
            copies[stream] = (1 + len(info.cluster.replicas or []), 1 + len(read.cluster.replicas or []))
    finally:
        await nc.close()
    assert copies == dict.fromkeys(consumers, (3, 3))


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


async def test_a_flow_runs_end_to_end_on_the_valkey_cluster_without_a_cross_slot_refusal(
    engine, second_port, hooks
):
    user = new_user("sharded")
    pending = await start(engine, user, provider="hooli", scopes=["scope1", "scope2"])
    assert pending["id"].startswith("ac_s")  # the id names its shard
    callback = await callback_url(engine, pending["url"], login="gavin")
    waiter = asyncio.create_task(_status(f"http://127.0.0.1:{second_port}", engine, pending["id"], wait=45))
    await asyncio.sleep(0.3)
    await deliver(callback)
    done = await waiter
    assert done["status"] == "completed"

    arcade = AsyncArcade(base_url=engine.base_url, api_key=engine.api_key)
    result = await arcade.tools.execute(
        tool_name="Hooli.ReticulateSplines", input={"num_splines": 2}, user_id=user
    )
    assert result.success is True, result.output
    assert result.output.value["token_sha256_prefix"] == fingerprint(done["context"]["token"])

    def events_of(kind: str) -> list[dict]:
        bodies = [json.loads(r.body) for r in hooks.on("/all")]
        return [b for b in bodies if b["type"] == kind and b["data"].get("user_id") == user]

    await until(lambda: bool(events_of("authorization.completed")), what="the completion's webhook")
    await until(lambda: bool(events_of("token.refreshed")), timeout=ACCESS_TTL_S + 20, what="a refresh")

    listed = await _connections(engine, {"limit": 100})
    mine = await _connections(engine, {"user_id": user})
    assert [c["user_id"] for c in mine["items"]] == [user]
    assert mine["items"][0]["id"] in {c["id"] for c in listed["items"]}
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        history = await client.get(
            f"{engine.base_url}/v1/admin/executions", headers=engine.headers, params={"user_id": user}
        )
    assert [r["tool_name"] for r in history.json()["items"]] == ["Hooli.ReticulateSplines"], history.text
    assert cross_slot_lines(engine.all_logs()) == []
    assert [line for line in engine.all_logs().splitlines() if "history.not_recorded" in line] == []


async def test_a_worker_and_a_secret_written_through_one_replica_serve_calls_on_both_executors(
    engine, second_port, vault_worker
):
    gateways = [engine.base_url, f"http://127.0.0.1:{second_port}"]
    served_before = _executions_by_replica(engine)
    async with httpx.AsyncClient(trust_env=False, timeout=30, headers=engine.headers) as http:
        stored = await http.post(f"{gateways[1]}/v1/admin/secrets/VAULT_KEY", json={"value": "first"})
        assert stored.status_code == 200, stored.text
        worker = {
            "id": "vault",
            "http": {"uri": vault_worker, "secret": VAULT_SECRET, "timeout": 10, "retry": 1},
            "grants": {"secrets": ["VAULT_KEY"]},
        }
        created = await http.post(f"{gateways[0]}/v1/workers", json=worker)
        assert created.status_code == 201, created.text
        # The executor that saved it serves it at once; the other loads it on the broadcast.
        loaded = await _whispers_until(http, gateways, lambda answers: {a[0] for a in answers} == {200})
        assert loaded == [(200, {"VAULT_KEY": vault_fingerprint("first")})] * CALLS

        # Secrets are read at each call: a change through one replica is what both serve next.
        changed = await http.put(f"{gateways[0]}/v1/admin/secrets/VAULT_KEY", json={"value": "second"})
        assert changed.status_code == 200, changed.text
        assert await _whispers(http, gateways) == [(200, {"VAULT_KEY": vault_fingerprint("second")})] * CALLS

        deleted = await http.delete(f"{gateways[1]}/v1/workers/vault")
        assert deleted.status_code == 204, deleted.text
        gone = await _whispers_until(http, gateways, lambda answers: {a[0] for a in answers} == {404})
        assert [status for status, _ in gone] == [404] * CALLS
    served = _executions_by_replica(engine)
    assert all(served[name] > served_before[name] for name in served), (served_before, served)


async def _whispers(http: httpx.AsyncClient, gateways: list[str]) -> list[tuple[int, object]]:
    """``CALLS`` runs of Vault.Whisper at once, half through each gateway: (status, output value)."""

    async def one(base_url: str) -> tuple[int, object]:
        body = {"tool_name": "Vault.Whisper", "user_id": "vault-user"}
        answer = await http.post(f"{base_url}/v1/tools/execute", json=body)
        value = answer.json().get("output", {}).get("value") if answer.status_code == 200 else None
        return answer.status_code, value

    return list(await asyncio.gather(*(one(gateways[n % 2]) for n in range(CALLS))))


async def _whispers_until(http, gateways, settled) -> list[tuple[int, object]]:
    """The calls once every executor has applied a broadcast registry change (the last try's answers).
    A few tries: the broadcast lands in milliseconds, the periodic reload that would also mend a lost
    one only every minute."""
    for _ in range(25):
        answers = await _whispers(http, gateways)
        if settled(answers):
            break
        await asyncio.sleep(0.2)
    return answers


def _executions_by_replica(engine: Engine) -> dict[str, int]:
    """Tool runs each executor process has answered (its ``rpc.handled`` lines for ExecuteTool)."""
    return {
        name: sum(
            1
            for line in engine.log_path(name).read_text().splitlines()
            if '"rpc.handled"' in line and '"ExecuteTool"' in line
        )
        for name in ("executor", "executor-2")
    }


async def _connections(engine: Engine, params: dict[str, str | int]) -> dict:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        answer = await client.get(
            f"{engine.base_url}/v1/admin/user_connections", headers=engine.headers, params=params
        )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_flows_in_flight_when_a_nats_node_dies_all_end_completed_or_failed(engine, cluster):
    users = [new_user(f"node-dies-{i}") for i in range(20)]
    pending = [await start(engine, user, provider="hooli", scopes=SCOPES) for user in users]
    callbacks = [await callback_url(engine, p["url"], login=u) for p, u in zip(pending, users, strict=True)]
    victim = cluster.nats_nodes[0]
    half = len(callbacks) // 2
    await asyncio.gather(*(deliver(c) for c in callbacks[:half]))
    cluster.kill_nats(victim.name)
    try:
        await asyncio.gather(*(_deliver_until_answered(c) for c in callbacks[half:]))
        outcomes = Counter()
        for p in pending:
            outcomes[(await _status(engine.base_url, engine, p["id"], wait=20))["status"]] += 1
    finally:
        cluster.start_nats(victim)
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


def test_the_valkey_cluster_still_passes_the_cluster_check_after_every_flow(cluster):
    cli = shutil.which("valkey-cli") or shutil.which("redis-cli")
    assert cli, "the cluster check needs redis-cli or valkey-cli on PATH"
    check = subprocess.run(
        [
            cli,
            "--no-auth-warning",
            "-a",
            cluster.password,
            "--cluster",
            "check",
            f"127.0.0.1:{cluster.valkey_ports[0]}",
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "[OK] All 16384 slots covered." in check.stdout

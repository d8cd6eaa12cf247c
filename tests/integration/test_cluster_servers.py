"""The local cluster the engine scales onto: three NATS nodes with JetStream R3 and a Valkey Cluster
of three primaries with a replica each, reached through the engine's own client factories."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamInfo
from redis.exceptions import RedisClusterException, ResponseError

from services.authorizer.adapters import RedisAuthorizationStore
from services.authorizer.domain import AuthorizationRecord
from services.authorizer.in_flight import InFlightReader
from services.token_refresher.adapters import RedisTokens
from shared.bus import subjects
from shared.bus.messaging import ensure_streams
from shared.contracts.authorization import InFlightQuery
from shared.contracts.events import AuthorizationCompleted
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.keyspace import Keyspace
from shared.runtime.redisio import create_redis
from shared.runtime.settings import RuntimeSettings
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of
from shared.tokens.store import TokenStore
from tests.support.cluster import LocalCluster, local_cluster

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

CIPHER = Cipher([RootKey("k1", "cluster-test-root-key-" + "x" * 20, default=True)])


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


def _nodes(running: LocalCluster) -> list[list[str]]:
    """``CLUSTER NODES`` of the first primary, one field list per node."""
    cli = [_redis_cli(), "--no-auth-warning", "-a", running.password]
    out = subprocess.run(
        [*cli, "-p", str(running.valkey_ports[0]), "CLUSTER", "NODES"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def _redis_cli() -> str:
    found = shutil.which("valkey-cli") or shutil.which("redis-cli")
    assert found, "the cluster checks need redis-cli or valkey-cli on PATH"
    return found


def test_the_valkey_cluster_has_three_primaries_each_with_a_replica(running):
    nodes = _nodes(running)
    primaries = {n[0] for n in nodes if "master" in n[2]}
    followed = [n[3] for n in nodes if "slave" in n[2]]
    assert len(primaries) == 3
    assert sorted(followed) == sorted(primaries)


def test_the_valkey_cluster_passes_the_cluster_check(running):
    cli = [_redis_cli(), "--no-auth-warning", "-a", running.password]
    result = subprocess.run(
        [*cli, "--cluster", "check", f"127.0.0.1:{running.valkey_ports[0]}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[OK] All 16384 slots covered." in result.stdout


async def test_a_cluster_url_gives_a_client_that_follows_keys_to_their_slots(running):
    client = create_redis(running.redis_url)
    try:
        for index in range(50):
            await client.set(f"vk:test:{index}", index)
        values = [int(await client.get(f"vk:test:{index}")) for index in range(50)]
        assert values == list(range(50))
        body = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])"
        script = client.register_script(body)
        assert await script(keys=["vk:{c1}:a", "vk:{c1}:b"], args=["x"]) == 1
        with pytest.raises((ResponseError, RedisClusterException), match=r"CROSSSLOT|same key slot"):
            await client.eval("return redis.call('MGET', KEYS[1], KEYS[2])", 2, "vk:a:1", "vk:b:2")
    finally:
        await client.aclose()


async def test_every_token_and_refresher_step_runs_on_the_cluster_in_one_slot_each(running):
    client = create_redis(running.redis_url)
    keyspace = Keyspace(f"vk{secrets.token_hex(3)}", 16)
    store = TokenStore(client, CIPHER, RefreshPolicy(), keyspace=keyspace)
    refresher = RedisTokens(store, client)
    try:
        now = datetime.now(UTC)
        users = [f"user{i}" for i in range(12)]
        for user in users:
            token = StoredToken(
                access_token="at", refresh_token="rt", issued_at=now, expires_at=now + timedelta(seconds=60)
            )
            await store.put(user, "hooli", token, project="acme")
        assert (await store.list_connections(project="acme", limit=50))[1] == 12
        assert await store.schedule.depth() == 12

        claims = await refresher.claim_due(now + timedelta(hours=1), now + timedelta(hours=2), 50)
        assert len(claims) == 12 and len({store.shard(c.connection_id) for c in claims}) > 1
        async with refresher.locked(users[0], "hooli", project="acme") as lock:
            assert lock is not None and lock.token is not None
            kept_locks, kept_claims = await refresher.renew([lock], claims, now + timedelta(hours=3))
        assert kept_locks == [True] and kept_claims == [True] * 12
        await refresher.unclaim(claims)
        removed = await store.delete(claims[0].connection_id)
        assert removed is not None and await store.schedule.depth() == 11
    finally:
        await client.aclose()


async def test_an_authorization_completes_on_the_cluster_with_its_token(running):
    client = create_redis(running.redis_url)
    keyspace = Keyspace(f"vk{secrets.token_hex(3)}", 16)
    tokens = TokenStore(client, CIPHER, RefreshPolicy(), keyspace=keyspace)
    store = RedisAuthorizationStore(client, CIPHER, tokens, prefix=keyspace.prefix, record_ttl_seconds=600)
    try:
        now = datetime.now(UTC)
        shard = keyspace.shard_of_connection(connection_id_of("ann", "hooli"))
        record = AuthorizationRecord(
            id=keyspace.mint("ac_cluster", shard, kind="ac"),
            user_id="ann",
            provider_id="hooli",
            scopes=["a"],
            created_at=now,
            updated_at=now,
        )
        state = keyspace.mint("state", shard)
        await store.create(record, state=state, ttl_seconds=60)
        claimed = record.claimed(now, deadline_at=now + timedelta(seconds=30))
        assert (await store.transition("consent", claimed)).applied
        in_flight = InFlightReader(client, keyspace)  # its index is in the record's slot, read across all
        assert [(a.id, a.stage) for a in (await in_flight.list(InFlightQuery())).items] == [
            (record.id, "exchanging")
        ]
        token = StoredToken(access_token="at", issued_at=now, scopes=["a"])
        event = AuthorizationCompleted(
            authorization_id=record.id, user_id="ann", provider_id="hooli", scopes=["a"]
        )
        done = await store.complete("exchanging", claimed.completed(["a"], now), token, events=[event])
        assert done.applied and (await tokens.get("ann", "hooli")).access_token == "at"
        assert (await store.find_state(state)).authorization_id == record.id
        assert await tokens.outbox.depth() == 1
        assert (await in_flight.list(InFlightQuery())).total_count == 0
    finally:
        await client.aclose()


async def test_a_killed_primary_is_replaced_by_its_replica_and_no_key_is_lost(running, tmp_path: Path):
    client = create_redis(running.redis_url)
    try:
        for index in range(200):
            await client.set(f"vk:failover:{index}", index)
        victim = running.valkey_ports[1]
        await _replicated(client, client.get_node(host="127.0.0.1", port=victim))  # type: ignore[attr-defined]
        running.kill_valkey(victim)
        values = await _read_back(client, 200)
        assert values == list(range(200))
    finally:
        await client.aclose()
        running.start_valkey(victim)


async def test_a_refreshed_token_written_as_its_primary_dies_lands_once_the_replica_takes_over(running):
    """The refresher's write carries what the provider just answered (its old refresh token may be
    spent): the cluster client alone gives up at once while the dead primary's slots are uncovered."""
    client = create_redis(running.redis_url)
    keyspace = Keyspace(f"vk{secrets.token_hex(3)}", 16)
    store = TokenStore(client, CIPHER, RefreshPolicy(), keyspace=keyspace)
    refresher = RedisTokens(store, client)
    now = datetime.now(UTC)
    old = StoredToken(access_token="at-old", refresh_token="rt-old", issued_at=now)
    new = StoredToken(access_token="at-new", refresh_token="rt-new", issued_at=now)
    victim = 0
    try:
        await store.put("ria", "hooli", old)
        key = store.token_key(connection_id_of("ria", "hooli"))
        node = client.get_node_from_key(key)  # type: ignore[attr-defined]
        victim = node.port
        await _replicated(client, node)
        running.kill_valkey(victim)
        await refresher.put("ria", "hooli", new, events=[])
        stored = await store.get("ria", "hooli")
        assert stored is not None and stored.access_token == "at-new"
    finally:
        await client.aclose()
        if victim:
            running.start_valkey(victim)


async def test_an_authorization_completed_as_its_primary_dies_keeps_its_token(running):
    """The code is spent once exchanged: the completing write waits for the replica to take over."""
    client = create_redis(running.redis_url)
    keyspace = Keyspace(f"vk{secrets.token_hex(3)}", 16)
    tokens = TokenStore(client, CIPHER, RefreshPolicy(), keyspace=keyspace)
    store = RedisAuthorizationStore(client, CIPHER, tokens, prefix=keyspace.prefix, record_ttl_seconds=600)
    now = datetime.now(UTC)
    connection = connection_id_of("cid", "hooli")
    record = AuthorizationRecord(
        id=keyspace.mint("ac_dying", keyspace.shard_of_connection(connection), kind="ac"),
        user_id="cid",
        provider_id="hooli",
        scopes=["a"],
        created_at=now,
        updated_at=now,
    )
    victim = 0
    try:
        await store.create(
            record, state=keyspace.mint("state", keyspace.shard_of_connection(connection)), ttl_seconds=60
        )
        claimed = record.claimed(now, deadline_at=now + timedelta(seconds=30))
        assert (await store.transition("consent", claimed)).applied
        node = client.get_node_from_key(tokens.token_key(connection))  # type: ignore[attr-defined]
        victim = node.port
        await _replicated(client, node)
        running.kill_valkey(victim)
        token = StoredToken(access_token="at-exchanged", issued_at=now, scopes=["a"])
        done = await store.complete("exchanging", claimed.completed(["a"], now), token, events=[])
        assert done.applied and (await tokens.get("cid", "hooli")).access_token == "at-exchanged"
    finally:
        await client.aclose()
        if victim:
            running.start_valkey(victim)


async def _replicated(client, node) -> None:
    """Wait until ``node``'s replica has acknowledged every write the node took. ``WAIT`` through
    the cluster client is not pinned to the connection that wrote, so it can return at once; a
    write the replica lacks is lost with the primary (docs/scaling.md, "When a part dies")."""
    for _ in range(200):
        info = await client.execute_command("INFO", "replication", target_nodes=node)
        if info.get("slave0", {}).get("offset", -1) >= info["master_repl_offset"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the replica of {node.name} did not catch up in 10 s")


async def _read_back(client, count: int) -> list[int]:
    """Read every key; a key whose primary just died answers again once its replica is promoted."""
    values = []
    for index in range(count):
        for _ in range(200):
            try:
                values.append(int(await client.get(f"vk:failover:{index}")))
                break
            except Exception:
                await asyncio.sleep(0.1)
    return values


async def test_seed_urls_reach_the_nats_cluster_and_streams_keep_three_copies(running):
    runtime = RuntimeSettings(nats_url=running.nats_url)
    nc = await nats.connect(runtime.nats_servers)
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=3)
        info: StreamInfo = await js.stream_info(subjects.EVENTS_STREAM)
        assert info.config.num_replicas == 3
        assert info.cluster is not None
        assert len(info.cluster.replicas or []) == 2
    finally:
        await nc.close()


async def test_a_published_event_survives_the_death_of_the_stream_leader(running):
    seeds = RuntimeSettings(nats_url=running.nats_url).nats_servers
    nc = await nats.connect(seeds, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=3)
        subject = subjects.EVENTS_ALL.replace(">", "cluster.test")
        for index in range(20):
            await js.publish(subject, str(index).encode())
        leader = (await js.stream_info(subjects.EVENTS_STREAM)).cluster.leader
        running.kill_nats(leader)
        for index in range(20, 40):
            await _publish_until_accepted(js, subject, str(index).encode())
        info = await js.stream_info(subjects.EVENTS_STREAM, subjects_filter=subject)
        assert info.state.subjects is not None and info.state.subjects.get(subject) == 40
        assert info.cluster is not None and info.cluster.leader != leader
    finally:
        await nc.close()
        node = next(n for n in running.nats_nodes if n.name == leader)
        running.start_nats(node)


async def _publish_until_accepted(js, subject: str, data: bytes) -> None:
    """Publish once JetStream acknowledges (a new leader is being elected for a moment)."""
    for _ in range(300):
        try:
            await js.publish(subject, data, timeout=1)
            return
        except Exception:
            await asyncio.sleep(0.1)
    raise AssertionError(f"JetStream never accepted {data!r}")

"""Redis key names: today's on one shard, hash-tagged per shard on several (shared/runtime/keyspace.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.contracts.common import new_id
from shared.errors import ConfigError
from shared.providers import oauth
from shared.runtime.keyspace import CLUSTER_SHARDS, Keyspace, shard_count
from shared.runtime.settings import load_runtime_settings
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of
from shared.tokens.store import TokenStore

CONNECTION = connection_id_of("alice", "github")


def _store(**where: Any) -> TokenStore:
    """A store that only names keys and plans writes (no Redis call, a stand-in cipher)."""
    return TokenStore(_NoScripts(), _Cipher(), RefreshPolicy(), **where)  # type: ignore[arg-type]


def test_one_shard_names_every_key_as_before_shards_existed() -> None:
    store = _store(prefix="vk")
    assert store.token_key(CONNECTION) == f"vk:token:{CONNECTION}"
    assert store.meta_key(CONNECTION) == f"vk:conn:{CONNECTION}"
    assert store.lock_key(CONNECTION) == f"vk:lock:refresh:{CONNECTION}"
    assert store.inflight_key(CONNECTION) == f"vk:refresh:inflight:{CONNECTION}"
    assert (store.schedule.due_key, store.schedule.reauth_key, store.outbox.key) == (
        "vk:refresh:due",
        "vk:conns:reauth",
        "vk:outbox",
    )


def test_one_shard_plans_a_write_on_todays_keys() -> None:
    plan = _store(prefix="vk").plan_put("alice", "github", _token(), project="acme")
    connection = connection_id_of("alice", "github", "acme")
    assert plan.keys[:3] == [f"vk:token:{connection}", f"vk:conn:{connection}", "vk:p:acme:conns"]
    assert plan.keys[4:7] == ["vk:p:acme:conns:provider:github", "vk:refresh:due", "vk:outbox"]
    assert plan.keys[9] == "vk:conns:reauth"


def test_several_shards_put_every_key_of_one_write_behind_one_hash_tag() -> None:
    plan = _store(keyspace=Keyspace("vk", 16)).plan_put("alice", "github", _token())
    shard = int(CONNECTION.removeprefix("uc_"), 16) % 16
    tag = f"{{vk:s{shard}}}"
    assert plan.keys[0] == f"vk:{tag}:token:{CONNECTION}"
    assert all(key.startswith(f"vk:{tag}:") for key in plan.keys)
    assert {_slot_tag(key) for key in plan.keys} == {f"vk:s{shard}"}


def test_a_group_of_keys_written_together_shares_one_tag_only_when_sharded() -> None:
    assert Keyspace("vk").grouped("webhooks") == "vk"
    assert Keyspace("vk", 4).grouped("webhooks") == "vk:{vk:webhooks}"


def test_a_minted_id_state_and_flow_id_name_their_shard() -> None:
    keyspace = Keyspace("vk", 16)
    auth_id = keyspace.mint(new_id("ac"), 7, kind="ac")
    state = keyspace.mint(oauth.new_state(), 11)
    assert auth_id.startswith("ac_s7_") and keyspace.shard_of(auth_id) == 7
    assert state.startswith("s11_") and keyspace.shard_of(state) == 11
    # the random part may hold "_s3_" itself: the mark is read where it was put
    assert keyspace.shard_of("ac_s5_x_s3_y") == 5


def test_one_shard_mints_ids_as_before_and_reads_every_id_as_shard_zero() -> None:
    keyspace = Keyspace("vk")
    assert keyspace.mint("ac_abc", 0, kind="ac") == "ac_abc"
    assert keyspace.mint("xyz", 0) == "xyz"
    assert keyspace.shard_of("ac_s7_abc") == 0


def test_an_id_without_a_mark_or_a_mark_out_of_range_reads_as_shard_zero() -> None:
    keyspace = Keyspace("vk", 16)
    assert keyspace.shard_of("ac_legacyid") == 0
    assert keyspace.shard_of("s99_x") == 0
    assert keyspace.shard_of_connection("uc_not-hex") == 0


def test_a_connections_shard_is_its_hex_digest_modulo_the_shard_count() -> None:
    assert Keyspace("vk", 16).shard_of_connection("uc_" + "0" * 31 + "b") == 11
    assert Keyspace("vk", 3).shard_of_connection("uc_" + "0" * 31 + "b") == 2
    assert Keyspace("vk").shard_of_connection(CONNECTION) == 0


def test_the_shard_count_is_one_on_a_server_and_sixteen_on_a_cluster_unless_configured() -> None:
    assert shard_count(None, "redis://127.0.0.1:6379/0") == 1
    assert shard_count(None, "redis+cluster://a:1,b:2") == CLUSTER_SHARDS
    assert shard_count(None, "rediss+cluster://a:1") == CLUSTER_SHARDS
    assert shard_count(4, "redis+cluster://a:1") == 4
    assert load_runtime_settings({"VALETKEY_REDIS_SHARDS": "8"}).redis_shards == 8


def test_a_shard_count_out_of_range_is_a_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as refused:
        Keyspace("vk", 0)
    assert refused.value.key == "redis.shards"


def _slot_tag(key: str) -> str:
    return key[key.index("{") + 1 : key.index("}")]


class _NoScripts:
    def register_script(self, _script: str) -> None:
        return None


class _Cipher:
    def encrypt_json(self, _data: object, *, aad: bytes) -> str:
        return "sealed"


def _token() -> StoredToken:
    now = datetime.now(UTC)
    return StoredToken(
        access_token="a", refresh_token="r", issued_at=now, expires_at=now + timedelta(hours=1)
    )

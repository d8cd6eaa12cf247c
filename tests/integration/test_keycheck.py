"""The root key check record on a real Valkey: a changed key value is refused before it can do harm."""

import pytest

from shared.errors import ConfigError
from shared.runtime import keycheck
from shared.runtime.crypto import WEBHOOK_KEYS, Cipher, RootKey
from shared.runtime.keyspace import Keyspace

pytestmark = pytest.mark.integration

FIRST = RootKey("k1", "the-first-root-key-value-0001", default=True)
CHANGED = RootKey("k1", "a-different-value-same-id-02", default=True)
SECOND = RootKey("k2", "a-second-root-key-value-0003", default=True)


@pytest.fixture
def prefix(request):
    return f"kc{abs(hash(request.node.nodeid)) % 10**8}"


async def test_the_first_start_writes_a_record_and_the_next_start_with_the_same_key_passes(redis, prefix):
    await keycheck.verify(redis, Cipher([FIRST]), prefix=prefix)

    assert await redis.exists(keycheck.record_key(prefix, "k1"))
    await keycheck.verify(redis, Cipher([FIRST]), prefix=prefix)


async def test_a_changed_value_under_the_same_key_id_is_refused_naming_file_and_key(redis, prefix):
    await keycheck.verify(redis, Cipher([FIRST]), prefix=prefix)

    with pytest.raises(ConfigError) as refused:
        await keycheck.verify(redis, Cipher([CHANGED]), prefix=prefix, file="engine.yaml")

    assert refused.value.file == "engine.yaml"
    assert refused.value.key == "security.root_keys[0].value"
    assert "'k1'" in str(refused.value)


async def test_a_new_default_key_beside_the_old_one_passes_and_writes_its_own_record(redis, prefix):
    await keycheck.verify(redis, Cipher([FIRST]), prefix=prefix)
    old = RootKey(FIRST.id, FIRST.value, default=False)

    await keycheck.verify(redis, Cipher([SECOND, old]), prefix=prefix)

    assert await redis.exists(keycheck.record_key(prefix, "k2"))
    # once the old key id is dropped (after reencrypt), the new key alone still passes
    await keycheck.verify(redis, Cipher([SECOND]), prefix=prefix)


async def test_a_mismatch_in_the_second_key_names_that_key(redis, prefix):
    await keycheck.verify(redis, Cipher([SECOND, RootKey("k1", FIRST.value)]), prefix=prefix)

    with pytest.raises(ConfigError) as refused:
        await keycheck.verify(redis, Cipher([SECOND, RootKey("k1", CHANGED.value)]), prefix=prefix)

    assert refused.value.key == "security.root_keys[1].value"


async def test_a_webhook_key_has_its_own_record_even_under_a_root_keys_id_and_a_change_names_its_key(
    redis, prefix
):
    await keycheck.verify(redis, Cipher([FIRST]), prefix=prefix)
    webhook = RootKey("k1", "the-webhook-key-under-id-k1-0004", default=True)

    await keycheck.verify(redis, Cipher([webhook], WEBHOOK_KEYS), prefix=prefix)
    assert await redis.exists(keycheck.record_key(prefix, "k1", WEBHOOK_KEYS))
    await keycheck.verify(redis, Cipher([FIRST]), prefix=prefix)  # the root key's record is untouched

    with pytest.raises(ConfigError) as refused:
        await keycheck.verify(redis, Cipher([CHANGED], WEBHOOK_KEYS), prefix=prefix)
    assert refused.value.key == "security.webhook_keys[0].value"
    assert "webhook key 'k1'" in str(refused.value)


async def test_the_first_start_records_the_shard_count_and_a_start_with_another_is_refused(redis, prefix):
    await keycheck.verify(redis, Cipher([FIRST]), prefix=prefix, keyspace=Keyspace(prefix))
    assert await redis.get(f"{prefix}:keyspace") == b"1"
    await keycheck.verify(redis, Cipher([FIRST]), prefix=prefix, keyspace=Keyspace(prefix))

    with pytest.raises(ConfigError) as refused:
        await keycheck.verify(
            redis, Cipher([FIRST]), prefix=prefix, file="engine.yaml", keyspace=Keyspace(prefix, 16)
        )

    assert refused.value.key == "redis.shards"
    assert f"{prefix}:keyspace" in str(refused.value) and "16" in str(refused.value)

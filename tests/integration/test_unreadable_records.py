"""One record no configured root key opens never breaks a list (real Valkey).

Such a record appears when a root key is dropped before everything was re-encrypted
under the new one, or when a record is damaged. The list skips it and says so in the log.
"""

import pytest
from structlog.testing import capture_logs

from services.executor.worker_registry import WorkerRegistry, WorkerSpec
from services.webhooks.adapters import EndpointStore
from shared.runtime.config import WebhooksConfig
from shared.runtime.crypto import WEBHOOK_KEYS, Cipher, RootKey

pytestmark = pytest.mark.integration

OLD = Cipher([RootKey("old", "the-old-root-key-long-enough-0001", default=True)])
NEW = Cipher([RootKey("new", "the-new-root-key-long-enough-0002", default=True)])
WEBHOOK = Cipher([RootKey("old", "the-webhook-key-long-enough-0003", default=True)], WEBHOOK_KEYS)


@pytest.fixture
def prefix(request):
    return f"ur{abs(hash(request.node.nodeid)) % 10**8}"


def worker(worker_id: str, created_at: str) -> WorkerSpec:
    return WorkerSpec(
        id=worker_id, uri="https://w.example", secret="s" * 32, timeout=5, retry=1, created_at=created_at
    )


async def test_a_worker_sealed_under_a_dropped_key_is_left_out_of_the_list_and_the_rest_listed(redis, prefix):
    await WorkerRegistry(redis, OLD, [], prefix=prefix).create(worker("w-old", "2026-01-01"))
    registry = WorkerRegistry(redis, NEW, [], prefix=prefix)
    await registry.create(worker("w-new", "2026-01-02"))

    assert [w.id for w in await registry.all()] == ["w-new"]


async def test_a_webhook_endpoint_sealed_under_a_dropped_key_does_not_stop_the_others(redis, prefix):
    old_store = EndpointStore(redis, OLD, WebhooksConfig(), prefix=prefix)
    await old_store.create("https://a.example/hook", ["*"], True, "sealed under the old key")
    store = EndpointStore(redis, NEW, WebhooksConfig(), prefix=prefix)
    readable, _ = await store.create("https://b.example/hook", ["*"], True, "sealed under the new key")

    assert [e.id for e in await store.all()] == [readable.id]


async def test_an_endpoint_stored_before_webhook_keys_is_skipped_with_a_log_line_naming_the_migration(
    redis, prefix
):
    legacy, _ = await EndpointStore(redis, OLD, WebhooksConfig(), prefix=prefix).create(
        "https://a.example/hook", ["*"], True, "sealed under a root key"
    )
    store = EndpointStore(redis, WEBHOOK, WebhooksConfig(), prefix=prefix)
    current, _ = await store.create("https://b.example/hook", ["*"], True, "sealed under the webhook key")

    with capture_logs() as logs:
        assert [e.id for e in await store.all()] == [current.id]
    skipped = [line for line in logs if line["event"] == "webhooks.endpoint_under_root_key"]
    assert [line["endpoint_id"] for line in skipped] == [legacy.id]
    assert "valetkey rotate-keys" in skipped[0]["fix"]

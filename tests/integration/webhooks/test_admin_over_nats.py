"""The webhook admin API goes through the gateway over NATS to the webhooks service, which alone
holds Redis and the root key: here the gateway is given neither."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from services.gateway.app import create_app
from services.webhooks.adapters import DeadLetters
from services.webhooks.app import create_service
from services.webhooks.domain import new_secret
from shared.runtime.config import EngineConfig
from shared.runtime.redisio import create_redis
from shared.runtime.settings import RuntimeSettings, Settings

pytestmark = pytest.mark.integration

API_KEY = "vk_test_admin_over_nats"
CONFIG_SECRET = new_secret()
# Literal public addresses: the target check passes without DNS, and nothing is ever sent there.
PUBLIC = "http://93.184.216.34/hook"
UNUSED_REDIS = "redis://127.0.0.1:9/0"  # nothing listens: a gateway that used Redis would fail


def settings(nats_url: str, redis_url: str, prefix: str, *, webhook_key: bool) -> Settings:
    """Both hold the bus key; the webhooks service also its webhook key, and neither a root key."""
    engine: dict[str, Any] = {
        "api": {"development": False},
        "auth": {"verification": {"mode": "unsafe_skip"}},
        "webhooks": {"endpoints": [{"id": "from-config", "url": PUBLIC, "secret": CONFIG_SECRET}]},
        "security": {"bus_key": "b" * 32},
    }
    if webhook_key:
        engine["security"]["webhook_keys"] = [{"id": "w1", "value": "w" * 32, "default": True}]
    runtime = RuntimeSettings(
        development=False,
        nats_url=nats_url,
        redis_url=redis_url,
        api_key=API_KEY,
        key_prefix=prefix,
        instance=f"test-{prefix}",
    )
    return Settings(runtime=runtime, engine=EngineConfig.model_validate(engine))


@asynccontextmanager
async def engine(nats_url: str, redis_url: str, prefix: str) -> AsyncIterator[httpx.AsyncClient]:
    """The webhooks service and the gateway in this process; a client for the gateway."""
    service = create_service(settings(nats_url, redis_url, prefix, webhook_key=True))
    gateway = create_app(settings(nats_url, UNUSED_REDIS, prefix, webhook_key=False))
    await service.app.start()
    try:
        async with gateway.router.lifespan_context(gateway):
            transport = httpx.ASGITransport(app=gateway)
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gw", headers=headers
            ) as client:
                yield client
    finally:
        await service.app.stop()


@pytest.fixture
def prefix() -> str:
    return f"vkadm{secrets.token_hex(3)}"


class TestEndpoints:
    async def test_an_endpoint_is_created_listed_changed_rotated_and_deleted_through_the_gateway(
        self, nats_url, redis_url, prefix
    ):
        async with engine(nats_url, redis_url, prefix) as client:
            created = await client.post(
                "/v1/admin/webhooks", json={"url": PUBLIC, "events": ["token.refreshed"]}
            )
            assert created.status_code == 201, created.text
            hook = created.json()
            assert hook["secret"].startswith("whsec_") and hook["source"] == "api"
            listed = (await client.get("/v1/admin/webhooks")).json()
            assert [i["id"] for i in listed["items"]] == ["from-config", hook["id"]]
            assert "whsec_" not in json.dumps(listed)
            patched = await client.patch(f"/v1/admin/webhooks/{hook['id']}", json={"enabled": False})
            assert patched.json()["enabled"] is False and patched.json()["url"] == PUBLIC
            rotated = (await client.post(f"/v1/admin/webhooks/{hook['id']}/rotate_secret")).json()
            assert rotated["secret"] != hook["secret"] and rotated["id"] == hook["id"]
            assert (await client.delete(f"/v1/admin/webhooks/{hook['id']}")).status_code == 204
            gone = await client.get(f"/v1/admin/webhooks/{hook['id']}")
        assert gone.status_code == 404 and gone.json()["name"] == "not_found"

    async def test_the_services_errors_reach_the_client_with_their_codes(self, nats_url, redis_url, prefix):
        async with engine(nats_url, redis_url, prefix) as client:
            refused = await client.post("/v1/admin/webhooks", json={"url": "http://10.1.2.3/hook"})
            config_one = await client.patch("/v1/admin/webhooks/from-config", json={"enabled": False})
            unknown_type = await client.post("/v1/admin/webhooks", json={"url": PUBLIC, "events": ["nope"]})
        assert (refused.status_code, refused.json()["name"]) == (400, "invalid_webhook_target")
        assert (config_one.status_code, config_one.json()["name"]) == (409, "conflict")
        assert (unknown_type.status_code, unknown_type.json()["name"]) == (400, "malformed_request")


class TestDeadLetters:
    async def test_a_dead_letter_is_listed_replayed_and_gone_through_the_gateway(
        self, nats_url, redis_url, prefix
    ):
        record = {
            "id": "dl_test",
            "endpoint_id": "from-config",
            "event_id": "evt_1",
            "event_type": "connection.revoked",
            "body": json.dumps({"id": "evt_1", "type": "connection.revoked", "data": {}}),
            "attempts": 3,
            "first_queued_at": 1_700_000_000.0,
            "dead_at": 1_700_000_100.0,
            "last_status": 503,
            "last_error": None,
        }
        redis = create_redis(redis_url)
        await DeadLetters(redis, prefix=prefix).add(record)
        await redis.aclose()
        async with engine(nats_url, redis_url, prefix) as client:
            page = (await client.get("/v1/admin/webhooks/dead_letters")).json()
            replayed = await client.post("/v1/admin/webhooks/dead_letters/dl_test/replay")
            after = (await client.get("/v1/admin/webhooks/dead_letters")).json()
            again = await client.post("/v1/admin/webhooks/dead_letters/dl_test/replay")
        assert page["total_count"] == 1
        item = page["items"][0]
        assert item["payload"]["id"] == "evt_1" and "body" not in item
        assert item["dead_at"].startswith("2023-11-14T22:")
        assert (replayed.status_code, replayed.json()) == (202, {"replayed": 1})
        assert after["total_count"] == 0
        assert again.status_code == 404


class TestHealth:
    async def test_the_health_answer_includes_the_webhooks_service(self, nats_url, redis_url, prefix):
        async with engine(nats_url, redis_url, prefix) as client:
            body = (await client.get("/v1/health", headers={"Valetkey-Extras": "true"})).json()
        assert body["services"]["webhooks"] == {
            "reachable": True,
            "instance": f"test-{prefix}",
            "dependencies": {"redis": True},
        }

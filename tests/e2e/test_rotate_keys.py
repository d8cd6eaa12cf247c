"""`valetkey rotate-keys` on a real Valkey: killed halfway, run again, everything under the new key.

10,000 connections (and one record of every other sealed kind) are written under key
``k1``; the configuration then makes ``k2`` the default with ``k1`` beside it. The command
is SIGKILLed while it works, run again to the end, and every record must then open with
``k2`` alone: the old key can be removed. Webhook endpoint secrets go the same way under the
webhook keys (``w1`` to ``w2``), and one stored before webhook keys existed (under root key
``k1``) is moved under ``w2`` too.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from redis import Redis

from services.executor.secret_store import SecretStore
from services.executor.worker_registry import WorkerRegistry, WorkerSpec
from services.webhooks.adapters import EndpointStore
from shared.providers.registry import ProviderRegistry
from shared.runtime.config import WebhooksConfig
from shared.runtime.crypto import WEBHOOK_KEYS, Cipher, RootKey
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of
from shared.tokens.store import TokenStore
from tests.support.engine import ROOT, base_config
from tests.support.provider_examples import hooli_entry

pytestmark = pytest.mark.e2e

CONNECTIONS = 10_000
OLD = RootKey("k1", "the-old-root-key-for-rotation-01")
NEW = RootKey("k2", "the-new-root-key-for-rotation-02", default=True)
OLD_WEBHOOK = RootKey("w1", "the-old-webhook-key-for-rotation-01", default=True)
NEW_WEBHOOK = RootKey("w2", "the-new-webhook-key-for-rotation-02", default=True)


def token(n: int) -> StoredToken:
    now = datetime.now(UTC)
    return StoredToken(
        access_token=f"at-{n}", refresh_token=f"rt-{n}", issued_at=now, expires_at=now + timedelta(hours=1)
    )


async def seed(redis_url: str, prefix: str) -> None:
    """Every kind of sealed record, under the old key only."""
    redis = create_redis(redis_url)
    old = Cipher([RootKey(OLD.id, OLD.value, default=True)])
    try:
        tokens = TokenStore(redis, old, RefreshPolicy(), prefix=prefix)
        for start in range(0, CONNECTIONS, 500):
            await asyncio.gather(
                *(tokens.put(f"user-{n}", "hooli", token(n)) for n in range(start, start + 500))
            )
        await SecretStore(redis, old, {}, prefix=prefix).upsert("API_TOKEN", "secret-value", None)
        worker = WorkerSpec(id="w1", uri="https://w.example", secret="w" * 32, timeout=5, retry=1)
        await WorkerRegistry(redis, old, [], prefix=prefix).create(worker)
        for cipher in (old, Cipher([OLD_WEBHOOK], WEBHOOK_KEYS)):  # before webhook keys existed, and after
            await EndpointStore(redis, cipher, WebhooksConfig(), prefix=prefix).create(
                "https://hooks.example/in", ["*"], True, "rotation"
            )
        await ProviderRegistry([], redis, old, prefix=prefix).put_runtime(hooli_entry(), create=True)
    finally:
        await redis.aclose()


def under_new_key(redis: Redis, prefix: str) -> int:
    """How many token records name the new key id."""
    names = [f"{prefix}:token:{connection_id_of(f'user-{n}', 'hooli')}" for n in range(CONNECTIONS)]
    return sum(1 for v in redis.mget(names) if v is not None and v.startswith(b"vk1.k2."))


async def readable_with_the_new_key_alone(redis_url: str, prefix: str) -> dict[str, int]:
    redis = create_redis(redis_url)
    new_only = Cipher([NEW])
    try:
        tokens = TokenStore(redis, new_only, RefreshPolicy(), prefix=prefix)
        read = [await tokens.get(f"user-{n}", "hooli") for n in range(CONNECTIONS)]
        found, _ = await SecretStore(redis, new_only, {}, prefix=prefix).values(["API_TOKEN"])
        workers = await WorkerRegistry(redis, new_only, [], prefix=prefix).all()
        webhook_only = Cipher([NEW_WEBHOOK], WEBHOOK_KEYS)
        endpoints = await EndpointStore(redis, webhook_only, WebhooksConfig(), prefix=prefix).all()
        registry = ProviderRegistry([], redis, new_only, prefix=prefix)
        providers = [r for r in await registry.records() if r.source == "runtime"]
        return {
            "tokens": sum(1 for n, t in enumerate(read) if t is not None and t.access_token == f"at-{n}"),
            "secrets": len(found),
            "workers": len(workers),
            "endpoints": len(endpoints),
            "providers": len(providers),
        }
    finally:
        await redis.aclose()


def rotate_command(tmp_path: Path, redis_url: str, prefix: str) -> tuple[list[str], dict[str, str]]:
    config = base_config(9, "unused")
    config["security"]["root_keys"] = [
        {"id": NEW.id, "value": NEW.value, "default": True},
        {"id": OLD.id, "value": OLD.value},
    ]
    config["security"]["webhook_keys"] = [
        {"id": NEW_WEBHOOK.id, "value": NEW_WEBHOOK.value, "default": True},
        {"id": OLD_WEBHOOK.id, "value": OLD_WEBHOOK.value},
    ]
    (tmp_path / "engine.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALETKEY_")}
    env.update(
        VALETKEY_CONFIG=str(tmp_path / "engine.yaml"),
        VALETKEY_HOME=str(tmp_path / "home"),
        VALETKEY_KEY_PREFIX=prefix,
        REDIS_URL=redis_url,
    )
    return [sys.executable, "-m", "tools.launcher.cli", "rotate-keys"], env


def test_rotate_keys_killed_halfway_and_run_again_leaves_every_record_under_the_new_key_only(
    tmp_path, redis_url
):
    prefix = f"rk{secrets.token_hex(4)}"
    asyncio.run(seed(redis_url, prefix))
    command, env = rotate_command(tmp_path, redis_url, prefix)

    with Redis.from_url(redis_url) as redis:
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while under_new_key(redis, prefix) == 0 and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()
        first.send_signal(signal.SIGKILL)  # as soon as the first records moved
        first.wait(10)
        halfway = under_new_key(redis, prefix)
    assert 0 < halfway < CONNECTIONS, "killed while it was still working"

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert second.returncode == 0, second.stderr
    assert "were already" in second.stdout and "0 no configured key opens" in second.stdout
    with Redis.from_url(redis_url) as redis:
        assert under_new_key(redis, prefix) == CONNECTIONS
    assert asyncio.run(readable_with_the_new_key_alone(redis_url, prefix)) == {
        "tokens": CONNECTIONS,
        "secrets": 1,
        "workers": 1,
        "endpoints": 2,
        "providers": 1,
    }

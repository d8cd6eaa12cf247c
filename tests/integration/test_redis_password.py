"""Valkey started as the engine starts it (``requirepass``) refuses a client without the password.

The refusal comes at once: the client rides out lost connections, but a password is not an outage.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from redis.exceptions import AuthenticationError

from shared.runtime.redisio import service_redis
from shared.runtime.settings import RuntimeSettings
from tests.support.servers import without_credentials

pytestmark = pytest.mark.integration


async def test_a_redis_client_without_the_password_is_refused(own_redis):
    client = service_redis(RuntimeSettings(redis_url=without_credentials(own_redis.url)))
    try:
        with pytest.raises(AuthenticationError, match="Authentication required"):
            await client.set("vk:probe", "1")
    finally:
        await client.aclose()


async def test_a_wrong_password_is_refused(own_redis):
    runtime = RuntimeSettings(redis_url=without_credentials(own_redis.url), redis_password=SecretStr("wrong"))
    client = service_redis(runtime)
    try:
        with pytest.raises(AuthenticationError):
            await client.ping()
    finally:
        await client.aclose()


async def test_the_password_from_the_settings_or_in_the_url_lets_the_service_in(own_redis):
    from_env = RuntimeSettings(
        redis_url=without_credentials(own_redis.url), redis_password=SecretStr(own_redis.password)
    )
    for runtime in (from_env, RuntimeSettings(redis_url=own_redis.url)):
        client = service_redis(runtime)
        try:
            assert await client.set("vk:probe", "1") is True
        finally:
            await client.aclose()

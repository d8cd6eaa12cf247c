"""Credentials from the settings reach the NATS and Redis clients the services build."""

from __future__ import annotations

from pathlib import Path

import pytest
from faststream.nats.security import NatsUserPassword
from pydantic import SecretStr
from redis.asyncio.connection import SSLConnection

from shared.bus.access import nats_connect_options, nats_security
from shared.errors import ConfigError
from shared.runtime.redisio import redis_options, service_redis
from shared.runtime.settings import RuntimeSettings, load_runtime_settings


def test_the_nats_user_and_password_are_read_from_the_environment_once():
    runtime = load_runtime_settings({"VALETKEY_NATS_USER": "executor", "VALETKEY_NATS_PASSWORD": "pw"})
    security = nats_security(runtime)
    assert isinstance(security, NatsUserPassword)
    assert (security.username, security.password) == ("executor", "pw")


def test_a_service_connects_with_its_own_inbox_prefix_and_credentials():
    runtime = RuntimeSettings(nats_user="gateway", nats_password=SecretStr("pw"))
    options = nats_connect_options(runtime, service="gateway")
    assert options["inbox_prefix"] == "_INBOX.gateway"
    assert (options["user"], options["password"]) == ("gateway", "pw")


def test_without_credentials_nothing_is_sent():
    assert nats_security(RuntimeSettings()) is None
    assert nats_connect_options(RuntimeSettings(), service="webhooks") == {"inbox_prefix": "_INBOX.webhooks"}


def test_a_missing_creds_file_is_a_configuration_error_naming_the_variable(tmp_path: Path):
    with pytest.raises(ConfigError, match="VALETKEY_NATS_CREDS"):
        nats_security(RuntimeSettings(nats_creds=tmp_path / "absent.creds"))


def test_an_unreadable_ca_bundle_is_a_configuration_error_naming_the_variable(tmp_path: Path):
    bad = tmp_path / "ca.crt"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="VALETKEY_NATS_CA"):
        nats_security(RuntimeSettings(nats_ca=bad))


def test_the_redis_password_is_given_to_the_client_unless_the_url_has_one():
    runtime = RuntimeSettings(redis_password=SecretStr("from-env"))
    assert redis_options("redis://127.0.0.1:6379/0", runtime) == {"password": "from-env"}
    in_url = service_redis(RuntimeSettings(redis_url="redis://:in-url@h:1/0", redis_password=SecretStr("x")))
    assert in_url.connection_pool.connection_kwargs["password"] == "in-url"


def test_rediss_urls_use_tls_with_the_ca_bundle_and_plain_urls_ignore_it(tmp_path: Path):
    ca = tmp_path / "ca.crt"
    secured = service_redis(RuntimeSettings(redis_url="rediss://:pw@h:1/0", redis_ca=ca))
    assert secured.connection_pool.connection_class is SSLConnection
    assert secured.connection_pool.connection_kwargs["ssl_ca_certs"] == str(ca)
    assert "ssl_ca_certs" not in redis_options("redis://h:1/0", RuntimeSettings(redis_ca=ca))

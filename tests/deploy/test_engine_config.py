"""The engine.yaml the chart mounts, read by the engine's own loader with what each pod receives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.errors import ConfigError
from shared.runtime.config_loading import load_engine_config
from shared.runtime.settings import RuntimeSettings, Settings
from tests.deploy.chart import SERVICES, Rendered

pytestmark = pytest.mark.deploy


def pod_environment(rendered: Rendered, service: str) -> dict[str, str]:
    """The service's variables; a Secret's value stands in as a long random-looking string."""
    return {
        name: value if isinstance(value, str) else "s3cr3t-" * 6
        for name, value in rendered.env(service).items()
        if isinstance(value, str) or "secretKeyRef" in value
    }


def mounted_config(rendered: Rendered, tmp_path: Path, edit: Any = None) -> Path:
    text = rendered.one("ConfigMap", "vk-valetkey-config")["data"]["engine.yaml"]
    if edit is not None:
        config = yaml.safe_load(text)
        edit(config)
        text = yaml.safe_dump(config)
    path = tmp_path / "engine.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("render", ["default", "production"])
def test_the_authorizer_reads_the_shipped_configuration_with_oidc_verification(
    rendered, render: str, tmp_path: Path
) -> None:
    """The authorizer, which holds the OIDC client secret, reads the shipped engine.yaml as it is."""
    path = mounted_config(rendered[render], tmp_path)
    config = load_engine_config(path, pod_environment(rendered[render], "authorizer"), service="authorizer")
    assert config.api.host == "0.0.0.0" and config.api.port == 9099
    assert not config.api.development
    oidc = config.auth.verification.oidc
    assert config.auth.verification.mode == "oidc" and oidc is not None
    assert oidc.client_secret.get_secret_value() and oidc.user_claim == "sub"


@pytest.mark.parametrize("render", ["default", "production"])
@pytest.mark.parametrize("service", SERVICES)
def test_each_pod_reads_the_configuration_with_only_the_secrets_it_is_given(
    rendered, render: str, service: str, tmp_path: Path
) -> None:
    """Every service reads the one engine.yaml, while the chart gives the root key, the webhook
    key, the OIDC client secret and a provider's secret only to the services that use them; every
    one gets the bus key."""
    path = mounted_config(rendered[render], tmp_path)
    config = load_engine_config(path, pod_environment(rendered[render], service), service=service)
    bus_key = config.security.bus_key
    assert bus_key is not None and bus_key.get_secret_value(), "every pod seals the bus with the bus key"


@pytest.mark.parametrize("render", ["default", "production"])
def test_the_webhooks_pod_builds_its_webhook_cipher_and_no_other_pod_can(
    rendered, render: str, tmp_path: Path
):
    """Only the webhooks service receives the webhook key, and it receives no root key."""
    path = mounted_config(rendered[render], tmp_path)
    for service in SERVICES:
        env = pod_environment(rendered[render], service)
        config = load_engine_config(path, env, service=service)
        settings = Settings(runtime=RuntimeSettings(), engine=config)
        if service == "webhooks":
            assert settings.webhook_cipher().default_key_id == "webhook1"
            with pytest.raises(ConfigError, match=re.escape("security.root_keys[0].value")):
                settings.cipher()
        else:
            assert "VALETKEY_WEBHOOK_KEY" not in env, service
            with pytest.raises(ConfigError, match=re.escape("security.webhook_keys[0].value")):
                settings.webhook_cipher()

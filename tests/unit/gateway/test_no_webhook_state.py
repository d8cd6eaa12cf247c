"""The gateway keeps no webhook state: no Redis client, no root key, no delivery code (#16)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from services.gateway.app import create_app
from shared.runtime.config import EngineConfig
from shared.runtime.settings import RuntimeSettings, Settings

ROOT = Path(__file__).resolve().parents[3]

GRAPH = """
import json, sys
import services.gateway.app
print(json.dumps(sorted(sys.modules)))
"""


def test_the_gateway_builds_with_the_bus_key_and_without_a_root_key_outside_development():
    runtime = RuntimeSettings(development=False, api_key="gw-test-key", instance="gw-1")
    engine = EngineConfig.model_validate(
        {
            "api": {"development": False},
            "auth": {"verification": {"mode": "unsafe_skip"}},
            "security": {"bus_key": "b" * 32},
        }
    )
    assert engine.security.root_keys == []
    app = create_app(Settings(runtime=runtime, engine=engine))
    assert not hasattr(app.state, "webhooks")


def test_importing_the_gateway_loads_no_redis_client_and_no_webhook_store_or_delivery():
    graph = subprocess.run(
        [sys.executable, "-c", GRAPH], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    modules = set(json.loads(graph))
    assert "services.gateway.app" in modules  # the import itself happened
    assert not {m for m in modules if m == "redis" or m.startswith("redis.")}
    assert not {m for m in modules if m.startswith("services.webhooks")}
    assert not {"shared.runtime.redisio", "shared.tokens.store", "shared.runtime.infra"} & modules

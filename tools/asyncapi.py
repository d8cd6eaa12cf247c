"""Generate the AsyncAPI documents of the NATS services: ``python -m tools.asyncapi asyncapi [DIR]``.

Each service is built exactly as ``python -m services.<name>`` builds it,
from a fixed, offline configuration, and FastStream describes its broker. Nothing
connects: brokers, Redis clients and HTTP clients are only constructed. The output,
``docs/asyncapi/<service>.json``, is committed; a test regenerates it and compares.
Services are imported by name, as the launcher starts them by name.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI

from shared.runtime.config import EngineConfig
from shared.runtime.service import Service
from shared.runtime.settings import RuntimeSettings, Settings

SERVICES = ("authorizer", "token_refresher", "executor", "webhooks")
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "docs" / "asyncapi"
VERSION = "0.1.0"
DOCS_NATS_URL = "nats://nats:4222"
DOCS_INSTANCE = "INSTANCE"  # per-replica health subjects end in the replica's instance name

DESCRIPTION = (
    "NATS request-reply subjects of the valetkey {service}. Requests are JSON contracts "
    "(shared/contracts), sealed on the wire under the bus key (AES-256-GCM; docs/nats.md, "
    '"Sealed payloads"); every reply is a sealed envelope, {{"ok": true, "result": ...}} or '
    '{{"ok": false, "error": {{"name", "message"}}}}. Subscribers with a queue group share '
    "the load between replicas. Each process is also the nats.micro service {service}, "
    "discoverable on $SRV.PING, $SRV.INFO and $SRV.STATS. See docs/nats.md."
)


def docs_settings() -> Settings:
    """A complete configuration that needs no file, no environment and no server."""
    runtime = RuntimeSettings(
        development=True, instance=DOCS_INSTANCE, nats_url=DOCS_NATS_URL, api_key="docs-only"
    )
    # oidc verification, so that the authorizer's sign-in subjects are documented too
    verification = {
        "mode": "oidc",
        "oidc": {"issuer": "https://login.example.com", "client_id": "docs", "client_secret": "docs-only"},
    }
    engine = EngineConfig.model_validate(
        {"api": {"development": True}, "auth": {"verification": verification}}
    )
    return Settings(runtime=runtime, engine=engine)


def build_service(service: str) -> Service:
    """The service as ``python -m services.<name>`` builds it, without starting it."""
    module = importlib.import_module(f"services.{service}.app")
    built = module.create_service(docs_settings())
    if not isinstance(built, Service) or built.app.broker is None:
        raise TypeError(f"services.{service}.app.create_service did not return a Service with a broker")
    return built


def asyncapi_document(service: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document FastStream generates for the service's subjects.

    The request-reply subjects are nats.micro endpoints (shared/bus/rpc.py), not FastStream
    subscribers, so they are registered on the never-started broker here, for FastStream to
    describe them.
    """
    built = build_service(service)
    broker = built.app.broker
    assert broker is not None  # build_service checked it
    built.rpc.describe(broker)
    spec = AsyncAPI(
        broker,
        title=f"valetkey {service}",
        version=VERSION,
        description=DESCRIPTION.format(service=service),
        schema_version="3.0.0",
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    return document


def render(document: dict[str, Any]) -> str:
    """Stable text: sorted keys, so regenerating an unchanged service changes nothing."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_asyncapi(out_dir: Path = DEFAULT_DIR) -> list[Path]:
    """Write one document per service into ``out_dir``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for service in SERVICES:
        path = out_dir / f"{service}.json"
        path.write_text(render(asyncapi_document(service)))
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "asyncapi" or len(argv) > 2:
        print("usage: python -m tools.asyncapi asyncapi [OUT_DIR]", file=sys.stderr)
        return 2
    for path in write_asyncapi(Path(argv[1]) if len(argv) == 2 else DEFAULT_DIR):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

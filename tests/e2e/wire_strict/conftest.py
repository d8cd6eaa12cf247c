"""One engine (with a stub LLM), one strict session and one registered worker for every module.

Package-scoped, so the engine starts once however the wire checks are split into modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.wire_strict import MODEL, WORKER_SECRET
from tests.support.client_stack import hooli_engine
from tests.support.engine import Engine
from tests.support.llm_stub import LlmStub, running_llm_stub
from tests.support.strict_openapi import StrictSession
from tests.support.worker_app import running_worker


@pytest.fixture(scope="package")
def llm() -> Iterator[LlmStub]:
    with running_llm_stub() as stub:
        yield stub


@pytest.fixture(scope="package")
def engine(tmp_path_factory, nats_url, redis_url, llm) -> Iterator[Engine]:
    def with_model(config: dict[str, Any]) -> None:
        upstream = {"base_url": llm.base_url, "api_key": "sk-wire-stub", "models": [MODEL]}
        config["llm"] = {"models": [{"id": "stub", "openai": upstream}]}

    home = tmp_path_factory.mktemp("wire")
    with hooli_engine(home, nats_url=nats_url, redis_url=redis_url, tweak=with_model) as (running, _):
        yield running


@pytest.fixture(scope="package")
def session(engine) -> Iterator[StrictSession]:
    client = StrictSession(engine.base_url, engine.headers)
    yield client
    client.http.close()


@pytest.fixture(scope="package")
def worker(session) -> Iterator[dict[str, Any]]:
    """The vault toolkit on an arcade-serve worker, registered through the API (its answer checked)."""
    with running_worker(WORKER_SECRET, toolkits=["tests.support.toolkits.vault"]) as url:
        http = {"uri": url, "secret": WORKER_SECRET, "timeout": 5, "retry": 1}
        yield session.call("POST", "/v1/workers", 201, json={"id": "wire-vault", "http": http})
        session.http.delete("/v1/workers/wire-vault")

"""Property-based requests over every operation of the gateway's OpenAPI document: no 5xx, and
every answer fits the response schema the document gives it.

Schemathesis reads the document the gateway serves and generates requests from each
operation's schema (valid and invalid bodies, queries and path ids). Whatever it sends,
the answer is never a server error: bad input is a 4xx in the API's error shape. The
example count per operation is bounded so the whole run stays inside the suite's budget.
Workers and webhook endpoints are included; loopback targets are allowed here only
(``webhooks.allow_private_targets``), as a test needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import Failure, FailureGroup, response_schema_conformance

from tests.support.client_stack import hooli_engine
from tests.support.engine import Engine

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 25


def _allow_loopback_targets(config: dict[str, Any]) -> None:
    config["webhooks"] = {"allow_private_targets": True}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url) -> Iterator[Engine]:
    home = tmp_path_factory.mktemp("api-fuzz")
    with hooli_engine(home, nats_url=nats_url, redis_url=redis_url, tweak=_allow_loopback_targets) as (
        running,
        _,
    ):
        yield running


@pytest.fixture(scope="module")
def operations(engine: Engine) -> list[Any]:
    document = httpx.get(f"{engine.base_url}/openapi.json", timeout=30, trust_env=False).json()
    return [result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()]


def server_errors(operation: Any, engine: Engine, sent: list[int]) -> list[str]:
    """Generated requests (valid and invalid) for one operation; those answered with a 5xx."""
    found: list[str] = []
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        response = case.call(base_url=engine.base_url, headers=engine.headers, timeout=30)
        sent.append(response.status_code)
        documented = operation.definition.raw.get("responses", {})
        if str(response.status_code) not in documented and "default" not in documented:
            found.append(f"{operation.label} -> undocumented {response.status_code} {response.text[:120]}")
        if response.status_code >= 500:
            found.append(f"{operation.label} -> {response.status_code} {response.text[:200]} for {case!r}")
        try:  # the body fits the documented schema (OpenAPI 3.0: null only where nullable)
            case.validate_response(response, checks=[response_schema_conformance])
        except (Failure, FailureGroup) as exc:
            found.append(f"{operation.label} -> {response.status_code} breaks its schema: {str(exc)[:300]}")

    run()
    return found


def test_no_request_the_document_allows_or_forbids_gets_a_server_error(operations, engine):
    labels = {operation.label for operation in operations}
    assert {"POST /v1/workers", "POST /v1/admin/webhooks", "POST /v1/tools/execute"} <= labels
    sent: list[int] = []
    errors = [error for operation in operations for error in server_errors(operation, engine, sent)]
    assert errors == []
    assert len(sent) >= 5 * len(operations)  # the examples really ran
    assert {400, 404} <= set(sent)  # invalid ones among them

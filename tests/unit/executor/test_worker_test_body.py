"""Arcade's ``WorkerTestRequest`` as the worker the executor probes (services/executor/worker_specs.py)."""

from __future__ import annotations

import pytest

from services.executor.worker_specs import TEST_WORKER_ID, worker_under_test
from shared.errors import BadRequest


def test_an_http_worker_without_a_secret_is_probed_for_reachability_only():
    body, with_secret = worker_under_test({"type": "http", "http": {"uri": "https://w.example"}})
    assert with_secret is False
    assert body["id"] == TEST_WORKER_ID and body["http"]["uri"] == "https://w.example"


def test_an_http_worker_with_a_secret_has_it_checked():
    secret = "s" * 32
    body, with_secret = worker_under_test({"type": "http", "http": {"uri": "https://w", "secret": secret}})
    assert with_secret is True and body["http"]["secret"] == secret


def test_an_mcp_worker_keeps_its_headers_and_is_fully_checked():
    request = {"type": "mcp", "mcp": {"uri": "https://m/mcp", "headers": {"X-A": "1"}}}
    body, with_secret = worker_under_test(request)
    assert with_secret is True and body["mcp"]["headers"] == {"X-A": "1"} and body["type"] == "mcp"


@pytest.mark.parametrize(
    "request_body",
    [{}, {"type": "ftp"}, {"type": "http"}, {"type": "http", "http": {}}, {"type": "mcp", "mcp": {"uri": 3}}],
)
def test_a_body_without_a_type_and_its_uri_is_a_bad_request(request_body):
    with pytest.raises(BadRequest):
        worker_under_test(request_body)

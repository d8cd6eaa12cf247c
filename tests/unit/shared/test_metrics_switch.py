"""``VALETKEY_METRICS``: the per-request metrics are recorded by default and not at all when off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.runtime import metrics
from shared.runtime.settings import load_runtime_settings


def count(subject: str) -> float:
    return metrics.NATS_REQUESTS.labels(subject, "ok")._value.get()


@pytest.fixture
def restored() -> Iterator[None]:
    yield
    metrics.record_requests(True)


def test_requests_are_recorded_by_default(restored):
    before = count("vk.test.on")
    metrics.nats_request("vk.test.on", True, 0.01)
    metrics.http_request("/v1/test", "GET", 200, 0.01)
    assert count("vk.test.on") == before + 1
    assert metrics.HTTP_REQUESTS.labels("/v1/test", "GET", "200")._value.get() >= 1


def test_with_metrics_off_no_request_moves_a_counter(restored):
    metrics.record_requests(load_runtime_settings({"VALETKEY_METRICS": "false"}).metrics)
    before = count("vk.test.off")
    metrics.nats_request("vk.test.off", True, 0.01)
    metrics.http_request("/v1/test-off", "GET", 200, 0.01)
    assert count("vk.test.off") == before
    assert metrics.HTTP_REQUESTS.labels("/v1/test-off", "GET", "200")._value.get() == 0


def test_metrics_are_on_unless_the_environment_says_otherwise():
    assert load_runtime_settings({}).metrics is True


def test_every_request_of_a_label_set_counts_once_its_children_are_cached(restored):
    before = count("vk.test.again")
    duration = metrics.NATS_DURATION.labels("vk.test.again")
    observed = duration._sum.get()
    for _ in range(3):
        metrics.nats_request("vk.test.again", True, 0.5)
    metrics.nats_request("vk.test.again", False, 0.5)
    assert count("vk.test.again") == before + 3
    assert metrics.NATS_REQUESTS.labels("vk.test.again", "error")._value.get() == 1
    assert duration._sum.get() == observed + 2.0
    for status in (200, 200, 404):
        metrics.http_request("/v1/test-again", "GET", status, 0.25)
    assert metrics.HTTP_REQUESTS.labels("/v1/test-again", "GET", "200")._value.get() == 2
    assert metrics.HTTP_REQUESTS.labels("/v1/test-again", "GET", "404")._value.get() == 1
    assert metrics.HTTP_DURATION.labels("/v1/test-again", "GET")._sum.get() == 0.75

"""The answer cache's metrics: every read counted as a hit or a miss by route, every notice by
what it covered; nothing counted under VALETKEY_METRICS=false."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from services.gateway import metrics
from shared.bus.answer_cache import AnswerCache
from shared.runtime.metrics import record_requests


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def reads(route: str, outcome: str) -> float:
    return sample("valetkey_answer_cache_reads_total", route=route, outcome=outcome)


async def serve_twice(cache: AnswerCache, route: str) -> None:
    async def ask() -> tuple[dict[str, Any], float]:
        return {"status": "completed", "user_id": "u", "provider_id": "p"}, float("inf")

    for _ in range(2):
        await cache.serve((route, "proj", "id"), "proj", ask, lambda result: b"{}")


async def test_a_miss_then_a_hit_are_counted_by_route():
    miss, hit = reads("status", "miss"), reads("status", "hit")
    await serve_twice(AnswerCache(seconds=60, metrics=metrics), "status")
    assert (reads("status", "miss"), reads("status", "hit")) == (miss + 1, hit + 1)


async def test_reads_are_not_counted_with_the_request_metrics_off():
    before = reads("authorize", "miss") + reads("authorize", "hit")
    record_requests(False)
    try:
        await serve_twice(AnswerCache(seconds=60, metrics=metrics), "authorize")
    finally:
        record_requests(True)
    assert reads("authorize", "miss") + reads("authorize", "hit") == before


def test_each_notice_is_counted_by_what_it_covered():
    cases = [
        (("proj", "u", "p"), "connection"),
        (("proj", "u", None), "user"),
        (("proj", None, None), "project"),
        ((None, None, None), "all"),
    ]
    for (project, user, provider), scope in cases:
        before = sample("valetkey_answer_cache_notices_total", scope=scope)
        AnswerCache(seconds=60, metrics=metrics).forget(project, user, provider)
        assert sample("valetkey_answer_cache_notices_total", scope=scope) == before + 1


async def test_a_cache_given_no_metrics_counts_nothing():
    """The executor's token records share the cache, not the gateway's counters."""
    before = reads("status", "miss") + reads("status", "hit")
    notices = sample("valetkey_answer_cache_notices_total", scope="all")
    cache = AnswerCache(seconds=60)
    await serve_twice(cache, "status")
    cache.forget(None)
    assert reads("status", "miss") + reads("status", "hit") == before
    assert sample("valetkey_answer_cache_notices_total", scope="all") == notices

"""The gateway's own Prometheus metrics (names as deploy/README.md lists them): how often the
answer cache (shared/bus/answer_cache.py, given this module as its ``metrics``) spared a read the
bus hop, and what the change notices dropped."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from shared.runtime.metrics import recording

ANSWER_CACHE_READS = Counter(
    "valetkey_answer_cache_reads",
    "Status and tools.authorize reads the answer cache could serve: hit (no bus hop) or miss",
    ["route", "outcome"],
)
ANSWER_CACHE_NOTICES = Counter(
    "valetkey_answer_cache_notices",
    "Change notices the answer cache followed, by what they covered",
    ["scope"],
)

#: The labelled children of each (route, hit), found once (``labels`` is a locked look-up).
_reads: dict[tuple[str, bool], Any] = {}


def answer_read(route: str, hit: bool) -> None:
    """Count one read of the answer cache (with the request metrics: off under VALETKEY_METRICS=false)."""
    if recording():
        child = _reads.get((route, hit))
        if child is None:
            child = _reads[(route, hit)] = ANSWER_CACHE_READS.labels(route, "hit" if hit else "miss")
        child.inc()


def notice(project: str | None, user_id: str | None, provider_id: str | None) -> None:
    """Count one change notice by its scope: a connection, a user, a project or everything."""
    if project is None:
        scope = "all"
    elif user_id is None:
        scope = "project"
    else:
        scope = "user" if provider_id is None else "connection"
    ANSWER_CACHE_NOTICES.labels(scope).inc()

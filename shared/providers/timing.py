"""The provider's own time of each call, as the engine saw it on the wire.

:class:`~shared.providers.http.ProviderHttp` takes each request's upstream time from its
headers handed to the connection to its answer's last byte read: the network and the provider,
not our request building or answer parsing. :class:`~shared.providers.client.ProviderClient`
adds it under the call's name (``token``, ``refresh``, ``user_info``, ``revoke``) to the
times collected in the current context, when a caller opened :func:`upstream_times` around
its calls (the authorizer does, per callback, and logs them as ``authorization.provider_timed``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_collected: ContextVar[dict[str, float] | None] = ContextVar("provider_upstream_times", default=None)


@contextlib.contextmanager
def upstream_times() -> Iterator[dict[str, float]]:
    """Seconds spent upstream by call name, for the provider calls made inside the block (tasks
    started inside it included: they share the one dict)."""
    times: dict[str, float] = {}
    reset = _collected.set(times)
    try:
        yield times
    finally:
        _collected.reset(reset)


def record(call: str, seconds: float | None) -> None:
    """Add one call's upstream time to the collecting block's, if any is open."""
    times = _collected.get()
    if times is not None and seconds is not None:
        times[call] = times.get(call, 0.0) + seconds

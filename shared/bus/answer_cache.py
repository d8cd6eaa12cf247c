"""Bytes kept without the bus hop, tagged with their project, user and provider, and dropped by
the change notices of ``vk.gateway.answers.stale`` (:class:`StaleNotices`).

Two users: the gateway keeps its answers (completed status reads and tools.authorize), and the
executor the encrypted token records it reads before a tool call (``shared/tokens/cached.py``).

For the gateway, the serving service decides what may be cached: a completed answer comes with ``fresh_until``
in its sealed reply envelope (``shared/bus/answers.py``), the moment its token falls due for
refresh. The gateway keeps the exact bytes it wrote, for ``VALETKEY_ANSWER_CACHE_SECONDS`` at
most and never past ``fresh_until``, tagged with the answer's project, user and provider.

It stays current by change notices (``vk.gateway.answers.stale``) that every writer publishes
after its Redis write and before its reply: a notice drops the answers of its connection, user,
project, or all of them. Two races are closed here:

- a read that was under way while a notice arrived may carry the state from before the write:
  its answer is not kept (:meth:`AnswerCache.ticket`, checked by :meth:`AnswerCache.put`);
- notices sent while the bus connection was down are lost: a change of the connection (down,
  or a reconnect since) forgets everything, and nothing is served while it is down.

What is left is bounded by the lifetime: a notice lost without a reconnect (a slow consumer).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from cachetools import TLRUCache
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from shared.bus import subjects
from shared.contracts.answers import AnswersStale
from shared.runtime.logging import get_logger

log = get_logger(__name__)

Key = tuple[Hashable, ...]
#: The bus connection as the cache follows it: None while down, else something that changes on
#: every reconnect (nats-py's reconnect count).
Connection = Callable[[], Hashable | None]
DEFAULT_MAX_ENTRIES = 10_000


class CacheMetrics(Protocol):
    """What an owner counts (the gateway: ``services/gateway/metrics.py``, a module)."""

    def answer_read(self, route: str, hit: bool) -> None: ...

    def notice(self, project: str | None, user_id: str | None, provider_id: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Cached:
    """One kept value (the body the gateway wrote, status 200 JSON; or the executor's encrypted
    token record), whose it is, until when."""

    body: bytes
    project: str
    user_id: str | None
    provider_id: str | None
    expires: float  # epoch seconds

    def matches(self, project: str, user_id: str | None, provider_id: str | None) -> bool:
        """Whether a notice about ``project`` (``user_id``, ``provider_id``: None for any) covers it."""
        return (
            self.project == project
            and (user_id is None or self.user_id == user_id)
            and (provider_id is None or self.provider_id == provider_id)
        )


def _expiry(_key: Key, value: Cached, _now: float) -> float:
    return value.expires


class AnswerCache:
    """Bounded answers with per-entry expiry (cachetools' ``TLRUCache``), dropped by notices.

    Args:
        seconds: The longest an answer is kept; 0 turns the cache off.
        max_entries: The most answers kept (least recently used go first).
        clock: Epoch seconds (``fresh_until`` is one, from another process).
        metrics: Counts the reads :meth:`serve` answers and the notices followed; None: nothing.
    """

    def __init__(
        self,
        *,
        seconds: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
        metrics: CacheMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self.enabled = seconds > 0 and max_entries > 0
        self._seconds = seconds
        self._clock = clock
        self._entries: TLRUCache[Key, Cached] = TLRUCache(max(1, max_entries), _expiry, timer=clock)
        self._max_entries = max(1, max_entries)
        # Keys by (project, user), to find a notice's entries without a scan; pruned by _index.
        self._by_user: dict[tuple[str, str | None], set[Key]] = {}
        self._indexed = 0
        # Notices seen: everywhere, and per project (a read under way across one is not kept).
        self._epoch = 0
        self._project_epochs: dict[str, int] = {}
        self._connection: Connection | None = None
        self._seen: Hashable | None = None

    def follow(self, connection: Connection) -> None:
        """Watch the bus connection: while it is down nothing is served, and once it changed
        (a reconnect, whose notices in between are lost) everything is forgotten."""
        self._connection = connection
        self._seen = connection()

    def get(self, key: Key) -> bytes | None:
        """The body of a fresh answer for ``key``, or None."""
        if not self._connected():
            return None
        entry = self._entries.get(key)
        return None if entry is None else entry.body

    def ticket(self, project: str) -> tuple[int, int]:
        """Taken before a read goes to the bus; :meth:`put` keeps its answer only if no notice
        about its project arrived meanwhile."""
        return self._epoch, self._project_epochs.get(project, 0)

    def put(
        self,
        key: Key,
        body: bytes,
        *,
        ticket: tuple[int, int],
        project: str,
        user_id: str | None,
        provider_id: str | None,
        fresh_until: float,
    ) -> None:
        """Keep an answer until ``fresh_until`` (epoch seconds; ``-inf``: not cacheable, ``inf``:
        no limit of its own), for the configured seconds at most."""
        if not self.enabled or ticket != self.ticket(project) or not self._connected():
            return
        expires = min(self._clock() + self._seconds, fresh_until)
        if expires <= self._clock():
            return
        self._entries[key] = Cached(body, project, user_id, provider_id, expires)
        self._index(key, project, user_id)

    def forget(self, project: str | None, user_id: str | None = None, provider_id: str | None = None) -> None:
        """A change notice: drop the answers of ``project`` (None: every project), of one user in
        it, or of that user's connection to one provider."""
        if self._metrics is not None:
            self._metrics.notice(project, user_id, provider_id)
        if project is None:
            self.clear()
            return
        self._project_epochs[project] = self._project_epochs.get(project, 0) + 1
        if user_id is not None:
            keys = self._by_user.pop((project, user_id), set())
        else:
            users = [pair for pair in self._by_user if pair[0] == project]
            keys = set().union(*(self._by_user.pop(pair) for pair in users))
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry.matches(project, user_id, provider_id):
                with contextlib.suppress(KeyError):  # expired since: gone already
                    del self._entries[key]
            elif entry is not None:  # another provider's answer of the user: still indexed
                self._by_user.setdefault((entry.project, entry.user_id), set()).add(key)

    def clear(self) -> None:
        """Forget everything (a notice for every project, a reconnect)."""
        self._epoch += 1
        self._entries.clear()
        self._by_user.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _connected(self) -> bool:
        if self._connection is None:
            return True
        now = self._connection()
        if now != self._seen:
            self._seen = now
            self.clear()
        return now is not None

    def _index(self, key: Key, project: str, user_id: str | None) -> None:
        self._by_user.setdefault((project, user_id), set()).add(key)
        self._indexed += 1
        if self._indexed > 2 * self._max_entries:  # expired and evicted keys linger: rebuild
            self._indexed = 0
            self._by_user = {}
            for kept, entry in self._entries.items():
                self._by_user.setdefault((entry.project, entry.user_id), set()).add(kept)

    async def serve(
        self,
        key: Key,
        project: str,
        ask: Callable[[], Awaitable[tuple[dict[str, Any], float]]],
        write: Callable[[dict[str, Any]], bytes],
    ) -> tuple[bytes, bool]:
        """The answer's body for ``key``: kept, or asked for (``ask`` gives the result and its
        ``fresh_until``) and written by ``write``; and whether it came from the cache."""
        body = self.get(key)
        if self._metrics is not None:
            self._metrics.answer_read(str(key[0]), body is not None)
        if body is not None:
            return body, True
        ticket = self.ticket(project)
        result, fresh_until = await ask()
        body = write(result)
        user_id, provider_id = result.get("user_id"), result.get("provider_id")
        self.put(
            key,
            body,
            ticket=ticket,
            project=project,
            user_id=user_id if isinstance(user_id, str) else None,
            provider_id=provider_id if isinstance(provider_id, str) else None,
            fresh_until=fresh_until,
        )
        return body, False


class StaleNotices:
    """Feeds the change notices of ``vk.gateway.answers.stale`` to an :class:`AnswerCache`, and has it
    follow the connection (down: nothing served; a reconnect: everything forgotten)."""

    def __init__(self, cache: AnswerCache) -> None:
        self._cache = cache
        self._sub: Subscription | None = None

    async def start(self, nc: NatsClient) -> None:
        self._cache.follow(lambda: nc.stats["reconnects"] if nc.is_connected else None)
        self._sub = await nc.subscribe(subjects.ANSWERS_STALE, cb=self._on_notice)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_notice(self, msg: Msg) -> None:
        # No await before the drop: it happens before the reply that followed the notice resumes.
        try:
            notice = AnswersStale.model_validate_json(msg.data)
        except ValidationError:
            log.warning("answers.notice_unreadable")
            self._cache.clear()  # whatever it said, nothing kept can be trusted more than before
            return
        self._cache.forget(notice.project, notice.user_id, notice.provider_id)

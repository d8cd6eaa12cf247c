"""The executor's token reads without the Redis round trip: the encrypted records it read, kept.

Before every tool call (and every tools.authorize) the executor reads the user's token: a
``GET`` and a round trip to Redis, ~0.1 ms of the ~0.45 ms an execute takes inside it.
:class:`CachedTokens` keeps the record **as stored, still encrypted**, in an
:class:`~shared.bus.answer_cache.AnswerCache` keyed by connection (project, user, provider), for
``VALETKEY_ANSWER_CACHE_SECONDS`` at most, and decrypts it on every read as before: no token is
in memory in clear longer than without the cache, and the freshness checks
(``shared/tokens/freshness.py``: due, expired) run on every call on the decoded token.

It stays current as the gateway's answers do: every token write and delete publishes a change
notice (``vk.gateway.answers.stale``) before its writer replies, and :class:`StaleNotices` drops
the records it covers; a read under way across a notice is not kept; a reconnect forgets
everything. After a refresh, ``fresh_token`` reads with :meth:`CachedTokens.latest` (Redis
itself), so the new token is used at once even without relying on the order in which the
notice and the refresher's reply are handled.

Only the executor's tool reads use it: the token_refresher and the authorizer read Redis.
"""

from __future__ import annotations

from shared.bus.answer_cache import AnswerCache
from shared.contracts.common import DEFAULT_PROJECT
from shared.tokens.model import StoredToken
from shared.tokens.store import TokenStore

NO_LIMIT = float("inf")  # a record has no lifetime of its own: the cache's bounds it


class CachedTokens:
    """Token reads through a cache of encrypted records (the ``get`` and ``latest`` of a token store).

    Args:
        store: The token store (reads Redis, decrypts).
        cache: The records kept, fed by :class:`~shared.bus.answer_cache.StaleNotices`.
    """

    def __init__(self, store: TokenStore, cache: AnswerCache) -> None:
        self._store = store
        self._cache = cache

    async def get(
        self, user_id: str, provider_id: str, *, project: str = DEFAULT_PROJECT
    ) -> StoredToken | None:
        """The user's token for a provider, decrypted; from the record kept when there is one."""
        record = self._cache.get((project, user_id, provider_id))
        if record is None:
            return await self.latest(user_id, provider_id, project=project)
        return self._store.decode(user_id, provider_id, record, project=project)

    async def latest(
        self, user_id: str, provider_id: str, *, project: str = DEFAULT_PROJECT
    ) -> StoredToken | None:
        """The token as Redis holds it now (the record is kept, unless a notice crossed the read)."""
        ticket = self._cache.ticket(project)
        record = await self._store.record(user_id, provider_id, project=project)
        if record is not None:
            self._cache.put(
                (project, user_id, provider_id),
                record,
                ticket=ticket,
                project=project,
                user_id=user_id,
                provider_id=provider_id,
                fresh_until=NO_LIMIT,
            )
        return self._store.decode(user_id, provider_id, record, project=project)

"""The change notice that keeps the gateway's answer cache current (shared/bus/answer_cache.py)."""

from __future__ import annotations

from shared.contracts.common import Contract


class AnswersStale(Contract):
    """What a write just changed, so the gateways drop the answers they hold of it.

    Ids only, never a token: it travels unsealed, like the events. Published on
    ``vk.gateway.answers.stale`` by every writer after its Redis write and before its reply.

    ``project`` ``None``: every project (a worker list that changed); ``user_id`` and
    ``provider_id`` narrow it to one user, or one user's connection to one provider.
    """

    project: str | None = None
    user_id: str | None = None
    provider_id: str | None = None

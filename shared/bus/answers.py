"""Answers a gateway may repeat from its cache, and the notices that make it forget them.

A service marks a reply cacheable by returning :class:`Cacheable` from its use case: the
envelope then carries ``fresh_until`` (``shared/bus/messaging.py``), sealed with the rest of the
reply. Every writer that changes what such an answer would say publishes
:class:`~shared.contracts.answers.AnswersStale` through :class:`StaleAnswers` after its Redis
write and before it replies, on the same connection as the reply: a gateway reads the notice
before the reply that follows it (docs/nats.md, "The answer cache").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from shared.bus import subjects
from shared.contracts.answers import AnswersStale
from shared.runtime.logging import get_logger

log = get_logger(__name__)

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Cacheable(Generic[R]):
    """A use case's result the gateway may answer again, until ``fresh_until`` at the latest.

    ``fresh_until`` ``None``: no limit of its own (a token that never expires, a tool needing no
    authorization); the gateway's own lifetime and the change notices still bound it.
    """

    result: R
    fresh_until: datetime | None = None


class StaleAnswers:
    """Publishes :class:`AnswersStale` on the service's connection, once :meth:`attach` gave it one.

    Before that (a service starting, a unit test without NATS) a notice goes nowhere: no gateway
    can hold an answer this process has not given yet.
    """

    def __init__(self) -> None:
        self._nc: NatsClient | None = None

    def attach(self, nc: NatsClient) -> None:
        self._nc = nc

    async def publish(
        self, project: str | None, *, user_id: str | None = None, provider_id: str | None = None
    ) -> None:
        """Tell every gateway that answers of ``project`` (of one user, of one connection) changed.

        A failure is logged, never raised: the write it follows has happened, and the gateway's
        cache lifetime bounds what a lost notice leaves behind.
        """
        if self._nc is None:
            return
        notice = AnswersStale(project=project, user_id=user_id, provider_id=provider_id)
        try:
            await self._nc.publish(subjects.ANSWERS_STALE, notice.model_dump_json().encode())
        except Exception as exc:  # closed or reconnecting: the gateways drop everything on reconnect
            log.warning("answers.notice_failed", error=type(exc).__name__, project=project)

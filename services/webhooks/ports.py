"""What delivery and the admin use cases need from the outside world, as Protocols.

``adapters.py`` has the real ones (Redis, JetStream), ``sender.py`` the HTTP wire; the
unit tests pass fakes.
"""

from __future__ import annotations

from typing import Any, Protocol

from services.webhooks.domain import Delivery, Endpoint
from services.webhooks.sender import Outcome


class Store(Protocol):
    """The endpoints, as delivery reads them."""

    async def all(self) -> list[Endpoint]: ...

    async def get(self, endpoint_id: str) -> Endpoint | None: ...


class Endpoints(Store, Protocol):
    """The endpoints, as the admin API changes them (config endpoints are read-only)."""

    async def of_project(self, project: str) -> list[Endpoint]:
        """The project's endpoints."""
        ...

    async def require(self, endpoint_id: str, project: str) -> Endpoint:
        """Raises NotFound for an unknown id, or another project's."""
        ...

    async def create(
        self, url: str, events: list[str], enabled: bool, description: str, project: str
    ) -> tuple[Endpoint, str]:
        """The project's new endpoint and its secret."""
        ...

    async def update(self, endpoint_id: str, changes: dict[str, Any], project: str) -> Endpoint: ...

    async def rotate(self, endpoint_id: str, project: str) -> tuple[Endpoint, str]:
        """The endpoint and its new secret."""
        ...

    async def delete(self, endpoint_id: str, project: str) -> None: ...


class Queue(Protocol):
    """The JetStream work queue of deliveries."""

    async def put(self, delivery: Delivery, *, msg_id: str | None = None) -> None: ...


class Counter(Protocol):
    """Counts the events the fan-out read, per project and type (``event_counts.EventCounter``)."""

    async def record(self, project: str, payload: dict[str, Any]) -> None: ...


class Send(Protocol):
    """One signed attempt."""

    async def send(self, endpoint: Endpoint, msg_id: str, body: bytes) -> Outcome: ...


class DeadLetterList(Protocol):
    """Where deliveries that ran out of retries are written."""

    async def add(self, record: dict[str, Any]) -> None: ...


class DeadLetterArchive(DeadLetterList, Protocol):
    """The dead letters, as the admin API lists, replays and removes them."""

    async def page(
        self, offset: int, limit: int, endpoint_id: str | None
    ) -> tuple[list[dict[str, Any]], int]: ...

    async def all(self) -> list[dict[str, Any]]: ...

    async def get(self, dead_id: str) -> dict[str, Any]:
        """Raises NotFound for an unknown id."""
        ...

    async def remove(self, dead_id: str) -> None: ...


class AttemptLog(Protocol):
    """Where each attempt is noted for the console (``services/webhooks/delivery_log.py``):
    in process, never a wait on the delivery's path."""

    def note(self, project: str, delivery: Delivery, outcome: Outcome, *, attempt: int) -> None: ...

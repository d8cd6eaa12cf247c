"""The admin use cases the webhooks service owns: endpoints and dead letters.

The gateway's ``/v1/admin/webhooks`` routes reach them over NATS (``vk.admin.webhooks.*``,
see ``handlers``). Secrets leave the service exactly twice: in the answer to create and to rotate.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from services.webhooks.domain import Delivery, Endpoint
from services.webhooks.ports import DeadLetterArchive, Endpoints, Queue
from services.webhooks.sender import vet_target
from shared.contracts.common import PageQuery
from shared.contracts.webhooks import (
    DeadLetterPage,
    DeadLetterQuery,
    DeadLetterRef,
    DeadLetterView,
    EndpointChange,
    EndpointCreate,
    EndpointPage,
    EndpointRef,
    EndpointSecret,
    EndpointView,
    ReplayDeadLetters,
    Replayed,
)
from shared.errors import NotFound, ServiceUnavailable
from shared.runtime.addresses import Resolver
from shared.runtime.config import WebhooksConfig


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def endpoint_view(endpoint: Endpoint) -> EndpointView:
    view = endpoint.public()
    view.update(created_at=_iso(endpoint.created_at), updated_at=_iso(endpoint.updated_at))
    return EndpointView.model_validate(view)


def dead_letter_view(record: dict[str, Any]) -> DeadLetterView:
    view = {k: v for k, v in record.items() if k != "body"}
    view.update(
        first_queued_at=_iso(record["first_queued_at"]),
        dead_at=_iso(record["dead_at"]),
        payload=json.loads(record["body"]),
    )
    return DeadLetterView.model_validate(view)


class WebhookAdmin:
    """Create, change and remove endpoints; list, replay and remove dead letters.

    Args:
        endpoints: Config endpoints plus those made through the API.
        dead_letters: Deliveries that ran out of retries.
        queue: The deliveries work queue a replay goes to.
        config: The ``webhooks`` section (whether private targets are allowed).
        resolver: Host name to addresses, for the target check.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        dead_letters: DeadLetterArchive,
        queue: Queue,
        config: WebhooksConfig,
        resolver: Resolver,
    ) -> None:
        self._endpoints = endpoints
        self._dead = dead_letters
        self._queue = queue
        self._config = config
        self._resolver = resolver

    async def _vet(self, url: str) -> None:
        await vet_target(url, allow_private=self._config.allow_private_targets, resolver=self._resolver)

    # --- endpoints -----------------------------------------------------------------------

    async def list_endpoints(self, query: PageQuery) -> EndpointPage:
        """One page of endpoints: config ones first, then API ones by creation time."""
        endpoints = await self._endpoints.of_project(query.project)
        page = endpoints[query.offset : query.offset + query.limit]
        return EndpointPage(items=[endpoint_view(e) for e in page], total_count=len(endpoints))

    async def get_endpoint(self, ref: EndpointRef) -> EndpointView:
        return endpoint_view(await self._endpoints.require(ref.id, ref.project))

    async def create_endpoint(self, create: EndpointCreate) -> EndpointSecret:
        """Check the target, then store the endpoint; the answer carries its secret."""
        await self._vet(create.url)
        endpoint, secret = await self._endpoints.create(
            create.url, list(create.events), create.enabled, create.description, create.project
        )
        return EndpointSecret(endpoint=endpoint_view(endpoint), secret=secret)

    async def update_endpoint(self, change: EndpointChange) -> EndpointView:
        """Change url, events, enabled or description of an API endpoint."""
        changes = change.changes.model_dump(exclude_none=True)
        await self._endpoints.require(change.id, change.project)
        if "url" in changes:
            await self._vet(changes["url"])
        return endpoint_view(await self._endpoints.update(change.id, changes, change.project))

    async def delete_endpoint(self, ref: EndpointRef) -> None:
        """Its queued deliveries are dropped when their turn comes."""
        await self._endpoints.delete(ref.id, ref.project)

    async def rotate_secret(self, ref: EndpointRef) -> EndpointSecret:
        """A new secret; the old one keeps signing too during the grace period."""
        endpoint, secret = await self._endpoints.rotate(ref.id, ref.project)
        return EndpointSecret(endpoint=endpoint_view(endpoint), secret=secret)

    # --- dead letters --------------------------------------------------------------------

    async def _project_dead(self, project: str) -> list[dict[str, Any]]:
        """The dead letters of the project's endpoints, newest first."""
        mine = {e.id for e in await self._endpoints.of_project(project)}
        return [r for r in await self._dead.all() if r["endpoint_id"] in mine]

    async def _dead_letter(self, ref: DeadLetterRef) -> dict[str, Any]:
        record = await self._dead.get(ref.id)
        if record["endpoint_id"] not in {e.id for e in await self._endpoints.of_project(ref.project)}:
            raise NotFound(f"dead letter {ref.id} not found")
        return record

    async def list_dead_letters(self, query: DeadLetterQuery) -> DeadLetterPage:
        """Newest first; of one endpoint when asked; only the project's endpoints'."""
        records = [
            r
            for r in await self._project_dead(query.project)
            if query.endpoint_id is None or r["endpoint_id"] == query.endpoint_id
        ]
        page = records[query.offset : query.offset + query.limit]
        return DeadLetterPage(items=[dead_letter_view(r) for r in page], total_count=len(records))

    async def replay(self, ref: DeadLetterRef) -> Replayed:
        """Queue a dead letter again (a fresh retry window) and remove it from the list.

        Raises:
            NotFound: Unknown dead letter.
            ServiceUnavailable: NATS did not take it.
        """
        record = await self._dead_letter(ref)
        delivery = Delivery(record["endpoint_id"], record["event_id"], record["event_type"], record["body"])
        # A fresh Nats-Msg-Id: the original id may still be inside the stream's duplicate window.
        msg_id = f"{record['event_id']}:{record['endpoint_id']}:replay:{secrets.token_hex(6)}"
        try:
            await self._queue.put(delivery, msg_id=msg_id)
        except ServiceUnavailable:
            raise
        except Exception as exc:
            raise ServiceUnavailable("could not queue the replay; try again") from exc
        await self._dead.remove(ref.id)
        return Replayed(replayed=1)

    async def replay_all(self, request: ReplayDeadLetters) -> Replayed:
        """Queue every dead letter (of one endpoint, when given) for delivery again."""
        records = await self._project_dead(request.project)
        chosen = [
            r for r in records if request.endpoint_id is None or r["endpoint_id"] == request.endpoint_id
        ]
        for record in chosen:
            await self.replay(DeadLetterRef(id=record["id"], project=request.project))
        return Replayed(replayed=len(chosen))

    async def delete_dead_letter(self, ref: DeadLetterRef) -> None:
        await self._dead_letter(ref)
        await self._dead.remove(ref.id)

"""NATS entry points of the webhooks service: the admin subjects, answered in the envelope."""

from __future__ import annotations

from pydantic import BaseModel

from services.webhooks.admin import WebhookAdmin
from services.webhooks.delivery_log import DeliveryLog
from services.webhooks.event_counts import EventCounter
from shared.bus import subjects
from shared.bus.rpc import RpcServer, UseCase
from shared.contracts.common import PageQuery
from shared.contracts.webhooks import (
    DeadLetterQuery,
    DeadLetterRef,
    EndpointChange,
    EndpointCreate,
    EndpointRef,
    EventCountsQuery,
    RecentDeliveriesQuery,
    RecentFailuresQuery,
    ReplayDeadLetters,
)


def register(
    server: RpcServer,
    admin: WebhookAdmin,
    counter: EventCounter | None = None,
    attempts: DeliveryLog | None = None,
) -> None:
    """Serve ``vk.admin.webhooks.*`` in the webhooks queue group (one replica answers each)."""
    routes: tuple[tuple[str, type[BaseModel], UseCase], ...] = (
        (subjects.WEBHOOKS_ENDPOINTS_LIST, PageQuery, admin.list_endpoints),
        (subjects.WEBHOOKS_ENDPOINTS_GET, EndpointRef, admin.get_endpoint),
        (subjects.WEBHOOKS_ENDPOINTS_CREATE, EndpointCreate, admin.create_endpoint),
        (subjects.WEBHOOKS_ENDPOINTS_UPDATE, EndpointChange, admin.update_endpoint),
        (subjects.WEBHOOKS_ENDPOINTS_DELETE, EndpointRef, admin.delete_endpoint),
        (subjects.WEBHOOKS_ENDPOINTS_ROTATE, EndpointRef, admin.rotate_secret),
        (subjects.WEBHOOKS_DEAD_LIST, DeadLetterQuery, admin.list_dead_letters),
        (subjects.WEBHOOKS_DEAD_REPLAY, DeadLetterRef, admin.replay),
        (subjects.WEBHOOKS_DEAD_REPLAY_ALL, ReplayDeadLetters, admin.replay_all),
        (subjects.WEBHOOKS_DEAD_DELETE, DeadLetterRef, admin.delete_dead_letter),
    )
    for subject, model, use_case in routes:
        server.add(subject, model, use_case, queue=subjects.QUEUE_WEBHOOKS)
    if counter is not None:
        server.add(
            subjects.WEBHOOKS_EVENT_COUNTS, EventCountsQuery, counter.counts, queue=subjects.QUEUE_WEBHOOKS
        )
        server.add(
            subjects.WEBHOOKS_RECENT_FAILURES,
            RecentFailuresQuery,
            counter.failures,
            queue=subjects.QUEUE_WEBHOOKS,
        )
    if attempts is not None:
        server.add(
            subjects.WEBHOOKS_RECENT_DELIVERIES,
            RecentDeliveriesQuery,
            attempts.recent,
            queue=subjects.QUEUE_WEBHOOKS,
        )

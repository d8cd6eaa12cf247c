"""NATS subscribers of the authorizer: validate, call the use case, reply in the envelope."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

from services.authorizer.admin import Admin
from services.authorizer.flows import Flows
from shared import subjects
from shared.contracts.authorization import (
    ConfirmUser,
    ConnectionRef,
    FlowRef,
    GetAuthorization,
    ListConnections,
    OAuthCallback,
    ProviderRef,
    ProviderWrite,
    StartAuthorization,
)
from shared.contracts.common import Empty
from shared.messaging import RPC_WORKERS, respond

Reply = dict[str, Any]


def register(broker: NatsBroker, flows: Flows, admin: Admin) -> None:
    """Subscribe every authorizer subject in the ``authorizer`` queue group."""

    q = subjects.QUEUE_AUTHORIZER

    @broker.subscriber(subjects.AUTH_START, queue=q, max_workers=RPC_WORKERS)
    async def start(body: Any) -> Reply:
        return await respond(StartAuthorization, body, flows.start)

    @broker.subscriber(subjects.AUTH_STATUS, queue=q, max_workers=RPC_WORKERS)
    async def status(body: Any) -> Reply:
        return await respond(GetAuthorization, body, flows.status)

    @broker.subscriber(subjects.AUTH_CALLBACK, queue=q, max_workers=RPC_WORKERS)
    async def callback(body: Any) -> Reply:
        return await respond(OAuthCallback, body, flows.callback)

    @broker.subscriber(subjects.AUTH_CONFIRM_USER, queue=q, max_workers=RPC_WORKERS)
    async def confirm_user(body: Any) -> Reply:
        return await respond(ConfirmUser, body, flows.confirm_user)

    @broker.subscriber(subjects.AUTH_FLOW_INFO, queue=q, max_workers=RPC_WORKERS)
    async def flow_info(body: Any) -> Reply:
        return await respond(FlowRef, body, flows.flow_info)

    @broker.subscriber(subjects.PROVIDERS_LIST, queue=q, max_workers=RPC_WORKERS)
    async def list_providers(body: Any) -> Reply:
        return await respond(Empty, body, admin.list_providers)

    @broker.subscriber(subjects.PROVIDERS_GET, queue=q, max_workers=RPC_WORKERS)
    async def get_provider(body: Any) -> Reply:
        return await respond(ProviderRef, body, admin.get_provider)

    @broker.subscriber(subjects.PROVIDERS_CREATE, queue=q, max_workers=RPC_WORKERS)
    async def create_provider(body: Any) -> Reply:
        return await respond(ProviderWrite, body, admin.create_provider)

    @broker.subscriber(subjects.PROVIDERS_UPDATE, queue=q, max_workers=RPC_WORKERS)
    async def update_provider(body: Any) -> Reply:
        return await respond(ProviderWrite, body, admin.update_provider)

    @broker.subscriber(subjects.PROVIDERS_DELETE, queue=q, max_workers=RPC_WORKERS)
    async def delete_provider(body: Any) -> Reply:
        return await respond(ProviderRef, body, admin.delete_provider)

    @broker.subscriber(subjects.CONNECTIONS_LIST, queue=q, max_workers=RPC_WORKERS)
    async def list_connections(body: Any) -> Reply:
        return await respond(ListConnections, body, admin.list_connections)

    @broker.subscriber(subjects.CONNECTIONS_DELETE, queue=q, max_workers=RPC_WORKERS)
    async def delete_connection(body: Any) -> Reply:
        return await respond(ConnectionRef, body, admin.delete_connection)

"""NATS subjects of the authorizer: each validated into its contract and answered in the envelope."""

from __future__ import annotations

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
from shared.rpc import RpcServer


def register(server: RpcServer, flows: Flows, admin: Admin) -> None:
    """Serve every authorizer subject in the ``authorizer`` queue group."""
    q = subjects.QUEUE_AUTHORIZER
    server.add(subjects.AUTH_START, StartAuthorization, flows.start, queue=q)
    server.add(subjects.AUTH_STATUS, GetAuthorization, flows.status, queue=q)
    server.add(subjects.AUTH_CALLBACK, OAuthCallback, flows.callback, queue=q)
    server.add(subjects.AUTH_CONFIRM_USER, ConfirmUser, flows.confirm_user, queue=q)
    server.add(subjects.AUTH_FLOW_INFO, FlowRef, flows.flow_info, queue=q)
    server.add(subjects.PROVIDERS_LIST, Empty, admin.list_providers, queue=q)
    server.add(subjects.PROVIDERS_GET, ProviderRef, admin.get_provider, queue=q)
    server.add(subjects.PROVIDERS_CREATE, ProviderWrite, admin.create_provider, queue=q)
    server.add(subjects.PROVIDERS_UPDATE, ProviderWrite, admin.update_provider, queue=q)
    server.add(subjects.PROVIDERS_DELETE, ProviderRef, admin.delete_provider, queue=q)
    server.add(subjects.CONNECTIONS_LIST, ListConnections, admin.list_connections, queue=q)
    server.add(subjects.CONNECTIONS_DELETE, ConnectionRef, admin.delete_connection, queue=q)

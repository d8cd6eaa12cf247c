"""NATS subjects of the authorizer: each validated into its contract and answered in the envelope."""

from __future__ import annotations

from services.authorizer.admin import Admin
from services.authorizer.authorizations import Authorizations
from services.authorizer.in_flight import InFlightReader
from services.authorizer.session_settings import SessionVerification
from services.authorizer.sign_in import SignIns
from services.authorizer.verification import Verifications
from shared.bus import subjects
from shared.bus.rpc import RpcServer
from shared.contracts.authorization import (
    ConfirmUser,
    ConnectionRef,
    FlowRef,
    GetAuthorization,
    InFlightQuery,
    ListConnections,
    OAuthCallback,
    ProviderRef,
    ProviderWrite,
    StartAuthorization,
    VerificationSettingsWrite,
    VerifierTest,
    VerifyCallback,
)
from shared.contracts.common import InProject
from shared.contracts.webhooks import EventCountsQuery


def register(
    server: RpcServer,
    authorizations: Authorizations,
    verifications: Verifications,
    admin: Admin,
    sign_ins: SignIns | None = None,
    in_flight: InFlightReader | None = None,
    sessions: SessionVerification | None = None,
) -> None:
    """Serve every authorizer subject in the ``authorizer`` queue group (the verification
    sign-in's two only with ``sign_ins``, in ``oidc`` mode)."""
    q = subjects.QUEUE_AUTHORIZER
    server.add(subjects.AUTH_START, StartAuthorization, authorizations.start, queue=q)
    server.add(subjects.AUTH_STATUS, GetAuthorization, authorizations.answer_status, queue=q, name="status")
    server.add(subjects.AUTH_CALLBACK, OAuthCallback, authorizations.callback, queue=q)
    server.add(subjects.AUTH_CONFIRM_USER, ConfirmUser, verifications.confirm_user, queue=q)
    server.add(subjects.AUTH_FLOW_INFO, FlowRef, verifications.flow_info, queue=q)
    if sign_ins is not None:
        server.add(subjects.AUTH_VERIFY_SIGN_IN, FlowRef, sign_ins.begin, queue=q)
        server.add(subjects.AUTH_VERIFY_CALLBACK, VerifyCallback, sign_ins.callback, queue=q)
    if in_flight is not None:
        server.add(subjects.AUTH_IN_FLIGHT, InFlightQuery, in_flight.list, queue=q)
        server.add(subjects.AUTH_STARTED_COUNTS, EventCountsQuery, in_flight.started, queue=q)
    server.add(subjects.PROVIDERS_LIST, InProject, admin.list_providers, queue=q)
    server.add(subjects.PROVIDERS_GET, ProviderRef, admin.get_provider, queue=q)
    server.add(subjects.PROVIDERS_CREATE, ProviderWrite, admin.create_provider, queue=q)
    server.add(subjects.PROVIDERS_UPDATE, ProviderWrite, admin.update_provider, queue=q)
    server.add(subjects.PROVIDERS_DELETE, ProviderRef, admin.delete_provider, queue=q)
    server.add(subjects.CONNECTIONS_LIST, ListConnections, admin.list_connections, queue=q)
    server.add(subjects.CONNECTIONS_GET, ConnectionRef, admin.get_connection, queue=q)
    server.add(subjects.CONNECTIONS_DELETE, ConnectionRef, admin.delete_connection, queue=q)
    if sessions is not None:
        server.add(subjects.VERIFICATION_SETTINGS_GET, InProject, sessions.get, queue=q)
        server.add(subjects.VERIFICATION_SETTINGS_PUT, VerificationSettingsWrite, sessions.put, queue=q)
        server.add(subjects.AUTH_VERIFIER_TEST, VerifierTest, sessions.start_test, queue=q)

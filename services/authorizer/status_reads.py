"""An authorization's status: a flow's record, or the connection that stands for one (the id
``POST /v1/auth/authorize`` answers when the user already holds a covering token names the
connection, no record being written)."""

from __future__ import annotations

from services.authorizer import domain
from services.authorizer.ports import AuthorizationStore, FreshTokens, Tokens
from shared.contracts.authorization import Authorization, GetAuthorization
from shared.errors import NotFound
from shared.tokens.freshness import completed_authorization
from shared.tokens.model import StoredToken, connection_of_authorization


async def current_status(
    request: GetAuthorization, *, store: AuthorizationStore, tokens: Tokens, fresh: FreshTokens
) -> tuple[Authorization, StoredToken | None]:
    """The authorization now, and the fresh token a completed one carries.

    Raises:
        NotFound: Unknown (or long expired) authorization id, or another project's.
    """
    connection = connection_of_authorization(request.authorization_id)
    if connection is not None:
        return await _connection_status(request, connection, tokens=tokens, fresh=fresh)
    record = await store.get(request.authorization_id)
    if record is None or record.project != request.project:
        raise NotFound(f"authorization {request.authorization_id!r} not found")
    if record.status == "completed":
        token = await fresh(user_id=record.user_id, provider_id=record.provider_id, project=record.project)
        return domain.to_authorization(record, token), token
    return domain.to_authorization(record), None


async def _connection_status(
    request: GetAuthorization, connection: str, *, tokens: Tokens, fresh: FreshTokens
) -> tuple[Authorization, StoredToken | None]:
    authorization_id = request.authorization_id
    meta = await tokens.connection(connection)
    if meta is None or meta.project != request.project:
        raise NotFound(f"authorization {authorization_id!r} not found")
    token = await fresh(user_id=meta.user_id, provider_id=meta.provider_id, project=meta.project)
    if token is None:  # revoked upstream or needs consent again: this authorization is over
        failed = Authorization(
            id=authorization_id,
            status="failed",
            provider_id=meta.provider_id,
            user_id=meta.user_id,
            scopes=meta.scopes,
            failure_reason="reauthorization_required",
        )
        return failed, None
    return completed_authorization(meta.user_id, meta.provider_id, token, meta.project), token

"""Dependencies shared by the routes: the API key check and the NATS client.

All are ``async`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool,
which costs more than the work they do. FastAPI solves a dependency once per request, so a
router's ``require_api_key`` and a route's ``Project`` share one key check.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers, State
from starlette.types import Scope

from services.gateway.arcade_schemas import EXTRAS_HEADER
from services.gateway.domain import ApiKeys, Principal
from shared.bus.messaging import RpcClient

#: Where the project-path rewrite (services/gateway/project_paths.py) leaves the path's project.
PATH_PROJECT_KEY = "valetkey.path_project"


def authenticate(keys: ApiKeys, scope: Scope) -> Principal:
    """The caller's project and role, from the key; a project in the path must be the key's.

    Raises:
        Unauthorized: Missing or unknown key.
        ProjectForbidden: The path names another project.
    """
    principal = keys.check(Headers(scope=scope).get("authorization"))
    principal.require_project(scope.get(PATH_PROJECT_KEY))
    return principal


async def limit_user(state: State, project: str, user_id: str | None) -> None:
    """Count a request for ``user_id`` against ``api.rate_limit.user_limit``, when there is one.

    Raises:
        RateLimited: The user is over the limit in this window.
    """
    user_limit = getattr(state, "user_limit", None)
    if user_limit is not None:
        await user_limit.check(project, user_id)


async def require_api_key(request: Request) -> Principal:
    """Reject requests without a known API key (401 in the error shape)."""
    keys: ApiKeys = request.app.state.api_keys
    return authenticate(keys, request.scope)


async def require_admin(principal: Annotated[Principal, Depends(require_api_key)]) -> Principal:
    """Reject ``agent`` keys (403 ``admin_key_required``): the admin routes' router dependency."""
    principal.require_admin()
    return principal


async def project_of(principal: Annotated[Principal, Depends(require_api_key)]) -> str:
    """The caller's project, as every request contract carries it."""
    return principal.project


Project = Annotated[str, Depends(project_of)]


def rpc_of(request: Request) -> RpcClient:
    """The NATS client, for direct use in a route."""
    client: RpcClient = request.app.state.rpc
    return client


async def rpc(request: Request) -> RpcClient:
    """The NATS client, as a dependency."""
    return rpc_of(request)


def extras_asked(scope: Scope) -> bool:
    """Whether the caller asked for valetkey's fields beyond Arcade's schemas (``Valetkey-Extras:
    true``, docs/arcade-compatibility.md §1.6)."""
    return Headers(scope=scope).get(EXTRAS_HEADER, "").strip().lower() in ("true", "1", "yes")


async def wants_extras(request: Request) -> bool:
    return extras_asked(request.scope)


Extras = Annotated[bool, Depends(wants_extras)]

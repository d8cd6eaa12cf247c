"""Arcade's auth endpoints: authorize, status with long-poll, confirm_user.

See docs/arcade-compatibility.md §2.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import State

from services.gateway.adapters import CompletionWaiters
from services.gateway.routes.deps import Extras, Project, limit_user, require_api_key, rpc_of
from services.gateway.wire import JsonAnswer, authorization_body
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.authorization import (
    AuthRequirement,
    CallbackOutcome,
    ConfirmUser,
    ConfirmUserResult,
    GetAuthorization,
    StartAuthorization,
)

router = APIRouter(tags=["auth"], dependencies=[Depends(require_api_key)])


class _Loose(BaseModel):
    # Clients may send fields we do not know; arcadepy models ignore extras and so do we.
    model_config = ConfigDict(extra="ignore")


class OAuth2Requirement(_Loose):
    scopes: list[str] | None = None


class AuthRequirementBody(_Loose):
    id: str | None = None
    provider_id: str | None = None
    provider_type: str | None = None
    oauth2: OAuth2Requirement | None = None


class AuthorizationInitiationRequest(_Loose):
    """``AuthorizationInitiationRequest``; ``null`` counts as absent."""

    auth_requirement: AuthRequirementBody
    user_id: str = Field(min_length=1)
    next_uri: str | None = None

    def to_contract(self, project: str) -> StartAuthorization:
        need = self.auth_requirement
        scopes = need.oauth2.scopes if need.oauth2 and need.oauth2.scopes else []
        return StartAuthorization(
            project=project,
            user_id=self.user_id,
            next_uri=self.next_uri,
            requirement=AuthRequirement(
                id=need.id,
                provider_id=need.provider_id,
                provider_type=need.provider_type or "oauth2",
                scopes=scopes,
            ),
        )


class ConfirmUserRequest(_Loose):
    flow_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)


def _answer(auth: dict[str, Any], extras: bool = False) -> JSONResponse:
    return JsonAnswer(authorization_body(auth, extras=extras))


Finishing = TypeVar("Finishing", CallbackOutcome, ConfirmUserResult)


async def finish(
    request: Request,
    subject: str,
    command: BaseModel,
    result: type[Finishing],
    *,
    timeout: float | None = None,
) -> Finishing:
    """Ask the authorizer for a step that may finish an authorization (the callback, a user's
    confirmation) and give a finished one straight to this gateway's waiting long-polls."""
    waiters: CompletionWaiters = request.app.state.waiters
    woken = False
    with waiters.finishing():
        outcome = await rpc_of(request).call(subject, command, result, timeout=timeout)
        if outcome.authorization is not None:
            woken = waiters.hand_over(outcome.authorization.model_dump(mode="json"))
    if woken:
        # One turn of the loop: the long-polls just handed the authorization write their answers
        # (what an agent waits for) before this request goes on to its own page and log line.
        await asyncio.sleep(0)
    return outcome


@router.post("/v1/auth/authorize", response_model=dict[str, Any])
async def authorize(
    body: AuthorizationInitiationRequest, request: Request, project: Project, extras: Extras = False
) -> JSONResponse:
    """Start an authorization, or answer ``completed`` with the token when the user already holds one."""
    await limit_user(request.app.state, project, body.user_id)
    return _answer(await rpc_of(request).call_raw(subjects.AUTH_START, body.to_contract(project)), extras)


async def status_now(client: RpcClient, auth_id: str, project: str, *, extras: bool = False) -> JSONResponse:
    """The answer to ``GET /v1/auth/status`` without ``wait`` (also served by the fast lane).

    Raises:
        ValetkeyError: An unknown id, or what the authorizer reported.
    """
    lookup = GetAuthorization(authorization_id=auth_id, project=project)
    return _answer(await client.call_raw(subjects.AUTH_STATUS, lookup), extras)


@router.get("/v1/auth/status", response_model=dict[str, Any])
async def status(
    request: Request,
    project: Project,
    id: Annotated[str, Query(min_length=1)],
    wait: Annotated[int | None, Query()] = None,
    extras: Extras = False,
) -> JSONResponse:
    """The authorization now; with ``wait``, held until it completes or fails (at most 59 s).

    The first read is of the caller's project: another project's id is a 404 before any wait.
    """
    return await status_answer(request.app.state, id, project, wait, extras=extras)


async def status_answer(
    state: State, auth_id: str, project: str, wait: int | None, *, extras: bool = False
) -> JSONResponse:
    """The answer to ``GET /v1/auth/status`` for a key-checked caller (also served by the
    completion lane): the authorization now, or once it completes or fails within ``wait``.

    Raises:
        ValetkeyError: An unknown id (another project's too), or what the authorizer reported.
    """
    client: RpcClient = state.rpc
    # At most 59 s (the clients time out at 60 s, docs/arcade-compatibility.md §2.2), less with a
    # shorter api.write_timeout.
    longest: int = state.gateway.max_wait_seconds
    seconds = max(0, min(wait or 0, longest))
    if seconds == 0:
        return await status_now(client, auth_id, project, extras=extras)
    return _answer(await awaited_status(client, state.waiters, auth_id, project, seconds), extras)


async def awaited_status(
    client: RpcClient, waiters: CompletionWaiters, auth_id: str, project: str, seconds: float
) -> dict[str, Any]:
    """The authorization once it completes or fails, or as it is after ``seconds``.

    Raises:
        ValetkeyError: An unknown id (another project's too), or what the authorizer reported.
    """
    lookup = GetAuthorization(authorization_id=auth_id, project=project)
    deadline = time.monotonic() + seconds
    # Interest first, then the stored status: an event landing in between still wakes us.
    future = waiters.register(auth_id)
    try:
        auth = await client.call_raw(subjects.AUTH_STATUS, lookup)
    except BaseException:
        waiters.discard(auth_id, future)
        raise
    if auth.get("status") in ("completed", "failed"):
        waiters.discard(auth_id, future)
        return dict(auth)
    finished = await waiters.wait(auth_id, future, max(0.0, deadline - time.monotonic()))
    if finished is not None:  # this gateway took the callback: the authorizer's reply is the answer
        return finished
    # Read again whether woken or timed out: a missed event must not hide a finished flow.
    return dict(await client.call_raw(subjects.AUTH_STATUS, lookup))


@router.post("/v1/auth/confirm_user")
async def confirm_user(body: ConfirmUserRequest, http: Request, project: Project) -> dict[str, Any]:
    """The app's verifier reports who is signed in; a different user fails the flow (``user_mismatch``)."""
    request = ConfirmUser(flow_id=body.flow_id, user_id=body.user_id, project=project)
    result = await finish(http, subjects.AUTH_CONFIRM_USER, request, ConfirmUserResult)
    # Arcade's ConfirmUserResponse: the id and where to go next; the token stays with status.
    return result.model_dump(mode="json", exclude_none=True, include={"auth_id", "next_uri"})

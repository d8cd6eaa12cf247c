"""Events: facts published to JetStream (``vk.events.>``). Never carry a token."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.bus import subjects
from shared.contracts.common import DEFAULT_PROJECT, Contract, new_id, utcnow


class Event(Contract):
    """Base event: an id receivers can dedupe by, a type, a time and who it concerns."""

    event_id: str = Field(default_factory=lambda: new_id("evt"))
    type: str
    occurred_at: datetime = Field(default_factory=utcnow)
    user_id: str | None = None
    provider_id: str | None = None
    # Whose it is: webhooks deliver an event only to its project's endpoints.
    project: str = DEFAULT_PROJECT

    @property
    def subject(self) -> str:
        """The NATS subject this event is published on."""
        return SUBJECT_BY_TYPE[self.type]


class AuthorizationCompleted(Event):
    type: Literal["authorization.completed"] = "authorization.completed"
    authorization_id: str
    status: Literal["completed"] = "completed"
    scopes: list[str] = Field(default_factory=list)


class AuthorizationFailed(Event):
    type: Literal["authorization.failed"] = "authorization.failed"
    authorization_id: str
    status: Literal["failed"] = "failed"
    reason: str


class TokenRefreshed(Event):
    type: Literal["token.refreshed"] = "token.refreshed"
    connection_id: str
    status: Literal["refreshed"] = "refreshed"
    expires_at: datetime | None = None


class TokenRefreshFailed(Event):
    type: Literal["token.refresh_failed"] = "token.refresh_failed"
    connection_id: str
    status: Literal["reauthorization_required", "retrying"] = "reauthorization_required"
    reason: str


RevocationStatus = Literal["revoked", "not_supported", "failed"]


class ConnectionRevoked(Event):
    """A connection was deleted here; ``provider_revocation`` says whether its grant was revoked
    at the provider too (RFC 7009), with the reason when it was not. None in events from before."""

    type: Literal["connection.revoked"] = "connection.revoked"
    connection_id: str
    status: Literal["revoked"] = "revoked"
    provider_revocation: RevocationStatus | None = None
    provider_revocation_reason: str | None = None


class ToolExecutionCompleted(Event):
    type: Literal["tool.execution.completed"] = "tool.execution.completed"
    execution_id: str
    tool_name: str
    status: str
    success: bool


SUBJECT_BY_TYPE: dict[str, str] = {
    "authorization.completed": subjects.EVT_AUTHORIZATION_COMPLETED,
    "authorization.failed": subjects.EVT_AUTHORIZATION_FAILED,
    "token.refreshed": subjects.EVT_TOKEN_REFRESHED,
    "token.refresh_failed": subjects.EVT_TOKEN_REFRESH_FAILED,
    "connection.revoked": subjects.EVT_CONNECTION_REVOKED,
    "tool.execution.completed": subjects.EVT_TOOL_EXECUTION_COMPLETED,
}

EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        AuthorizationCompleted,
        AuthorizationFailed,
        TokenRefreshed,
        TokenRefreshFailed,
        ConnectionRevoked,
        ToolExecutionCompleted,
    )
}


def parse_event(data: bytes | str) -> Event:
    """Decode an event from its JSON form into its concrete class."""
    raw = json.loads(data)
    return EVENT_TYPES[raw["type"]].model_validate(raw)

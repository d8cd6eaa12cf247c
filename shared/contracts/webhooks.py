"""Webhooks admin: gateway <-> webhooks service (endpoints and dead letters).

The gateway takes the admin API's bodies as these contracts and passes them on; the
webhooks service answers with the views the API returns. A signing secret travels only in
:class:`EndpointSecret`, the answer to create and to rotate.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.contracts.common import Contract, InProject, PageQuery


class EndpointFields(Contract):
    """The body of ``POST /v1/admin/webhooks``."""

    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(default_factory=lambda: ["*"])
    enabled: bool = True
    description: str = Field(default="", max_length=500)


class EndpointCreate(EndpointFields, InProject):
    """A new endpoint of a project."""


class EndpointUpdate(Contract):
    """``PATCH /v1/admin/webhooks/{id}``: fields left out stay as they are."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[str] | None = None
    enabled: bool | None = None
    description: str | None = Field(default=None, max_length=500)


class EndpointChange(InProject):
    """An update of one endpoint."""

    id: str = Field(min_length=1)
    changes: EndpointUpdate


class EndpointRef(InProject):
    id: str = Field(min_length=1)


class EndpointView(Contract):
    """An endpoint as the API shows it: everything but its secrets; times in ISO 8601."""

    id: str
    url: str
    events: list[str]
    enabled: bool
    source: str  # "config" or "api"
    description: str = ""
    created_at: str | None = None
    updated_at: str | None = None


class EndpointSecret(Contract):
    """An endpoint with its new secret, shown to the caller once."""

    endpoint: EndpointView
    secret: str = Field(repr=False)


class EndpointPage(Contract):
    items: list[EndpointView] = Field(default_factory=list)
    total_count: int = 0


class DeadLetterQuery(PageQuery):
    endpoint_id: str | None = None


class DeadLetterView(Contract):
    """A delivery that ran out of retries, with the payload it carried."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    attempts: int
    first_queued_at: str | None
    dead_at: str | None
    last_status: int | None = None
    last_error: str | None = None
    payload: dict[str, Any]


class DeadLetterPage(Contract):
    items: list[DeadLetterView] = Field(default_factory=list)
    total_count: int = 0


class DeadLetterRef(InProject):
    id: str = Field(min_length=1)


class ReplayDeadLetters(InProject):
    """Replay every dead letter, or those of one endpoint."""

    endpoint_id: str | None = None


class Replayed(Contract):
    replayed: int


class EventCountsQuery(InProject):
    """How many events of each type the project had, per hour, for the last ``hours`` hours."""

    hours: int = Field(default=24, ge=1, le=168)


class EventCounts(Contract):
    """``hours``: the hours' starts (ISO 8601, oldest first); ``counts``: per event type, one an hour."""

    hours: list[str] = Field(default_factory=list)
    counts: dict[str, list[int]] = Field(default_factory=dict)


class RecentFailuresQuery(InProject):
    """The project's latest ``authorization.failed`` and ``token.refresh_failed`` events, newest first."""

    limit: int = Field(default=50, ge=1, le=100)


class RecentFailures(Contract):
    """Each item as a webhook receiver gets it: id, type, timestamp, data (user, provider, reason)."""

    items: list[dict[str, Any]] = Field(default_factory=list)


class RecentDeliveriesQuery(InProject):
    """The latest attempts to each of ``endpoint_ids`` (of the project), newest first."""

    endpoint_ids: list[str] = Field(default_factory=list, max_length=100)
    limit: int = Field(default=10, ge=1, le=20)


class RecentDeliveries(Contract):
    """Per endpoint id: attempts as {event_id, event_type, attempt, status, error, ok, at (epoch s)}."""

    items: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)

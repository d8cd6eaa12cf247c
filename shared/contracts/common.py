"""Base classes shared by every contract."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: The project of a plain API key, of ``VALETKEY_API_KEY`` and of every record written before
#: projects: its objects keep the Redis key names and connection ids they had.
DEFAULT_PROJECT = "default"


def new_id(prefix: str) -> str:
    """Return a random, URL-safe id with a readable prefix (``ac_``, ``te_`` ...)."""
    return f"{prefix}_{secrets.token_urlsafe(18)}"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Contract(BaseModel):
    """A message between services: immutable, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class InProject(Contract):
    """A request made for one project. The gateway sets ``project`` from the caller's API key,
    never from what the client sent; services scope everything the request reads or writes by it."""

    project: str = DEFAULT_PROJECT


class Ping(Contract):
    """Health ping; every service answers on ``shared.bus.subjects.health_subject``."""


class Pong(Contract):
    service: str
    instance: str
    # Each dependency this replica checked (``redis``): reachable or not.
    dependencies: dict[str, bool] = Field(default_factory=dict)


class Page(Contract):
    """A slice of a list, before the gateway wraps it in Arcade's offset page."""

    items: list[dict[str, Any]] = Field(default_factory=list)
    total_count: int = 0


class PageQuery(InProject):
    offset: int = Field(default=0, ge=0, le=1_000_000_000)  # far inside a Redis range index
    limit: int = Field(default=25, ge=1, le=100)


class Empty(Contract):
    """A request or reply that carries nothing."""

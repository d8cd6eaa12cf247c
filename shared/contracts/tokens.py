"""Token refresh: anyone -> token_refresher. Tokens themselves never ride on NATS here."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.contracts.common import DEFAULT_PROJECT, Contract


class RefreshToken(Contract):
    """Ask for a fresh token for one connection.

    ``force`` refreshes even when the stored token looks valid (after an upstream 401).
    """

    user_id: str = Field(min_length=1)
    provider_id: str = Field(min_length=1)
    project: str = DEFAULT_PROJECT
    force: bool = False


class RefreshOutcome(Contract):
    """The result; callers re-read the token from the store."""

    status: Literal["refreshed", "fresh", "reauthorization_required", "not_refreshable"]
    expires_at: datetime | None = None

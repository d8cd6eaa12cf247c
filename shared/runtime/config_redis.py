"""The ``redis`` section of ``engine.yaml``: how the keys are laid out (docs/scaling.md, "The key layout")."""

from __future__ import annotations

from pydantic import Field

from shared.runtime.config_base import Section


class RedisConfig(Section):
    """How the Redis keys are split over hash slots."""

    # Hash-slot groups of the keys: 1 on one server (today's names), 16 on a Redis Cluster when
    # unset; fixed once data is written (the services refuse to start on another count).
    shards: int | None = Field(default=None, ge=1, le=1024)

"""Where each Redis key lives: the names of one shard, and the shard of a connection or an id.

On one Redis node there is one shard and every key is named as it always was
(``<p>:token:<connection id>``). On a Redis Cluster a script or transaction may only touch keys
of one hash slot, so the keys are split into ``shards`` groups, each pinned to one slot by a hash
tag placed right after the prefix; the rest of the name is unchanged::

    <p>:token:<connection id>            one shard (shards = 1)
    <p>:{<p>:s7}:token:<connection id>   shard 7 of several
    <p>:{<p>:webhooks}:webhooks:dead     a group that must share one slot (``grouped``)

A connection's keys, its entries in the shared indexes (one copy of each index per shard) and
the authorization that writes its token all live in the connection's shard. Authorization ids,
states and verification flow ids minted for a shard carry it (``ac_s7_...``, ``s7_...``), so a
lookup by id alone finds the shard (docs/scaling.md, "The key layout").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import ConfigError

if TYPE_CHECKING:  # the gateway reads settings and holds no Redis client
    from redis.asyncio import Redis

# Shards on a Redis Cluster when nothing is configured: enough to spread over a few primaries.
CLUSTER_SHARDS = 16
MAX_SHARDS = 1024
_MARK = re.compile(r"^(?:[A-Za-z]+_)?s(\d+)_")


@dataclass(frozen=True)
class Keyspace:
    """The key names of one deployment (``prefix``) split over ``shards`` hash slots."""

    prefix: str = "vk"
    shards: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ConfigError(f"the shard count must be between 1 and {MAX_SHARDS}", key="redis.shards")

    @property
    def sharded(self) -> bool:
        return self.shards > 1

    @property
    def all(self) -> range:
        """Every shard, for readers that list or count across them."""
        return range(self.shards)

    @property
    def marker(self) -> str:
        """The key holding the shard count the data was written with."""
        return f"{self.prefix}:keyspace"

    def key(self, shard: int, name: str) -> str:
        """``<p>:<name>``, or with shard ``shard``'s hash tag after the prefix."""
        if not self.sharded:
            return f"{self.prefix}:{name}"
        return f"{self.prefix}:{{{self.prefix}:s{shard}}}:{name}"

    def grouped(self, group: str) -> str:
        """The prefix of keys that are written together outside any shard (one slot for all)."""
        return f"{self.prefix}:{{{self.prefix}:{group}}}" if self.sharded else self.prefix

    def shard_of_connection(self, connection_id: str) -> int:
        """A connection's shard: the hex digest of its id (``uc_<hex>``) modulo the shard count."""
        if not self.sharded:
            return 0
        try:
            return int(connection_id.rpartition("_")[2], 16) % self.shards
        except ValueError:  # not an id this engine made: no shard holds it
            return 0

    def mint(self, value: str, shard: int, *, kind: str = "") -> str:
        """``value`` marked with its shard: ``ac_x`` (kind ``ac``) -> ``ac_s7_x``, ``x`` -> ``s7_x``.

        Unchanged on one shard, so ids look as they always did there.
        """
        if not self.sharded:
            return value
        if kind:
            return f"{kind}_s{shard}_{value.removeprefix(f'{kind}_')}"
        return f"s{shard}_{value}"

    def shard_of(self, value: str) -> int:
        """The shard a minted id, state or flow id names; 0 for one without a mark."""
        if not self.sharded:
            return 0
        found = _MARK.match(value)
        shard = int(found.group(1)) if found else 0
        return shard if shard < self.shards else 0


def shard_count(configured: int | None, redis_url: str) -> int:
    """The configured count, else one shard per node: 16 on a Redis Cluster, 1 on one server."""
    if configured is not None:
        return configured
    return CLUSTER_SHARDS if "+cluster" in redis_url.split("://", 1)[0] else 1


async def check_marker(redis: Redis, keyspace: Keyspace, *, file: str = "") -> None:
    """Write the shard count at the first start; refuse a start whose count differs from it.

    Raises:
        ConfigError: The data was written with another shard count (moving it is unsupported).
    """
    await redis.set(keyspace.marker, str(keyspace.shards), nx=True)
    raw = await redis.get(keyspace.marker)
    stored = raw.decode() if isinstance(raw, bytes) else raw
    if stored is not None and stored != str(keyspace.shards):
        raise ConfigError(
            f"this deployment's data was written with {stored} Redis shard(s) (key "
            f"{keyspace.marker}) and the configuration says {keyspace.shards}; changing the shard "
            "count over existing data is unsupported (docs/scaling.md, 'The key layout')",
            file=file,
            key="redis.shards",
        )

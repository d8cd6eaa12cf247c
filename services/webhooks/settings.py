"""Webhooks service settings: ``engine.yaml`` ``webhooks:`` plus what follows from it."""

from __future__ import annotations

from dataclasses import dataclass

from services.webhooks import jetstream
from services.webhooks.adapters import QUEUE_TIMEOUT_SECONDS
from services.webhooks.lanes import MAX_FIRST_WAIT_SECONDS
from shared.runtime.config import WebhooksConfig
from shared.runtime.settings import Settings

# Messages one replica holds at once, per consumer.
FANOUT_IN_FLIGHT = 256
DELIVERY_IN_FLIGHT = 4096
# On shutdown, in-flight deliveries get this long; anything unacked is redelivered later.
STOP_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class WebhooksSettings:
    """How the webhooks service runs.

    Attributes:
        config: The ``webhooks`` section of ``engine.yaml``.
        prefix: The deployment's Redis key prefix.
        namespace: The prefix made safe for subjects and consumer names.
        ack_wait: Seconds JetStream waits for a queued delivery's ack: the attempt itself is
            bounded by the timeout; the rest is slack for the ack to travel.
        fanout_ack_wait: The fan-out may also wait a moment for a lane and then queue a failed
            delivery.
    """

    config: WebhooksConfig
    prefix: str
    namespace: str
    ack_wait: float
    fanout_ack_wait: float

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhooksSettings:
        config = settings.engine.webhooks
        prefix = settings.runtime.key_prefix
        ack_wait = config.timeout_seconds + 5
        return cls(
            config=config,
            prefix=prefix,
            namespace=jetstream.namespace(prefix),
            ack_wait=ack_wait,
            fanout_ack_wait=ack_wait + MAX_FIRST_WAIT_SECONDS + QUEUE_TIMEOUT_SECONDS,
        )

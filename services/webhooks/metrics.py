"""The webhooks service's own Prometheus metrics (names as deploy/README.md lists them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DELIVERIES = Counter(
    "valetkey_webhook_deliveries",
    "Delivery attempts by endpoint id and outcome (delivered, retrying, dead_lettered)",
    ["endpoint", "outcome"],
)

QUEUE_DEPTH = Gauge(
    "valetkey_webhook_queue_depth", "Webhook deliveries waiting or in flight on the retry work queue"
)
DEAD_LETTERS = Gauge("valetkey_webhook_dead_letters", "Dead-lettered webhook deliveries kept")

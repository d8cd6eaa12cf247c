"""The webhooks service's own Prometheus metrics (names as deploy/README.md lists them)."""

from __future__ import annotations

from prometheus_client import Counter

DELIVERIES = Counter(
    "valetkey_webhook_deliveries",
    "Delivery attempts by endpoint id and outcome (delivered, retrying, dead_lettered)",
    ["endpoint", "outcome"],
)

"""Outbound webhooks: signed (Standard Webhooks), durable (JetStream), retried, dead-lettered.

``domain`` holds the pure rules, ``store`` the endpoints and dead letters (Redis),
``sender`` one HTTP attempt, ``dispatcher`` the fan-out and delivery handlers,
``jetstream`` the streams and consumers, ``service`` the component the gateway runs.
"""

from services.gateway.webhooks.service import Webhooks

__all__ = ["Webhooks"]

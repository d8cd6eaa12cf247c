"""The webhooks service: signed (Standard Webhooks), durable (JetStream), retried, dead-lettered.

``domain`` holds the pure rules, ``adapters`` the endpoints, dead letters (Redis) and the
deliveries work queue, ``sender`` one HTTP attempt, ``lanes`` the per-endpoint limits,
``dispatcher`` the fan-out and delivery handlers, ``jetstream`` the streams and consumers,
``admin`` + ``handlers`` the admin subjects the gateway calls, ``app`` the composition root.
"""

"""What every service process runs on: settings read once (:mod:`.settings`) from
``engine.yaml`` and the environment (:mod:`.config`), structlog with redaction
(:mod:`.logging`), the common ``__main__`` (:mod:`.service`), the infrastructure a
composition root builds (:mod:`.infra`), work left to run after a reply
(:mod:`.background`), the Redis client factory (:mod:`.redisio`), encryption at rest
(:mod:`.crypto`), the shared Prometheus metrics (:mod:`.metrics`) and the ops port that
serves them with the probes (:mod:`.ops`).
"""

"""The gateway: Arcade's HTTP API at the edge, NATS behind it."""

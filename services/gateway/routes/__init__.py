"""HTTP routes, thin: parse, call a service over NATS, shape the answer."""

"""Starting valetkey: embedded NATS and Valkey servers, the four services, and the CLI."""

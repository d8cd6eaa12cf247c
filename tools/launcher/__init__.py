"""Starting valetkey: embedded NATS and Valkey servers, the five services, and the CLI."""

"""valetkey's four services: gateway, authorizer, token_refresher, executor."""

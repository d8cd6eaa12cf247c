"""valetkey's five services: gateway, authorizer, token_refresher, executor, webhooks."""

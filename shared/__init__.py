"""valetkey's shared package: contracts, settings, storage and plumbing the four services share."""

"""valetkey's shared package: contracts, settings, storage and plumbing the five services share."""

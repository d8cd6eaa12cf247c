"""The token_refresher service."""

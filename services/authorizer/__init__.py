"""The authorizer service."""

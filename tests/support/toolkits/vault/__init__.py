"""Vault: tools that ask for secrets, to show a worker gets only what it is granted."""

__version__ = "1.0.0"

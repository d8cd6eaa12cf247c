"""Hooli: the seed-002 custom OAuth 2.0 toolkit, plus tools the tests need."""

__version__ = "1.0.0"

"""Toolkits of our own, written with arcade-tdk exactly as a user would."""

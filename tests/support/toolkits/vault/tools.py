"""Vault tools. ``Whisper`` asks for the secrets ``VAULT_WHISPER_ASKS`` names (comma-separated, read
at import), so a worker restarted with another value is a redeploy whose definition asks for more.
No tool returns a secret: only which keys it received and a hash prefix of each value.
"""

import hashlib
import os

from arcade_tdk import ToolContext, tool
from arcade_tdk.auth import OAuth2

WHISPER_ASKS = [key for key in os.environ.get("VAULT_WHISPER_ASKS", "VAULT_KEY").split(",") if key]


def fingerprint(value: str) -> str:
    """First 12 hex chars of the SHA-256 of ``value`` (what tests compare)."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def received(context: ToolContext) -> dict[str, str]:
    """Every secret the engine sent with the call, as ``{key: fingerprint}``."""
    return {item.key: fingerprint(item.value) for item in context.secrets or []}


@tool(requires_secrets=WHISPER_ASKS)
def whisper(context: ToolContext) -> dict[str, str]:
    """Tell which secrets this call received."""
    return received(context)


@tool(requires_secrets=["PEEK_KEY"])
def peek(context: ToolContext) -> dict[str, str]:
    """Tell which secrets this call received (it asks for one its worker is not granted)."""
    return received(context)


@tool(requires_auth=OAuth2(id="hooli", scopes=["scope1"]))
def borrow(context: ToolContext) -> int:
    """Return the length of the user's Hooli token."""
    return len(context.authorization.token if context.authorization else "")

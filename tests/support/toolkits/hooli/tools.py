"""Hooli tools, written against arcade-tdk as an Arcade user writes them (seed 002).

The docs spell ``OAuth2(provider_id="hooli")``; arcade-tdk 3.15 takes ``id=``.
No tool returns a token or a secret verbatim: only a hash prefix and a length.
"""

import asyncio
import hashlib
import time
from typing import Annotated

from arcade_core.metadata import Behavior, Classification, Operation, ServiceDomain, ToolMetadata
from arcade_tdk import ToolContext, tool
from arcade_tdk.auth import OAuth2
from arcade_tdk.errors import RetryableToolError

# Metadata on two tools, for the tools list ``filter`` (Arcade's metadata filter).
SPLINES_METADATA = ToolMetadata(
    classification=Classification(service_domains=[ServiceDomain.PROJECT_MANAGEMENT]),
    behavior=Behavior(operations=[Operation.UPDATE], read_only=False, destructive=False, open_world=True),
    extras={"team": "splines"},
)
SECRET_METADATA = ToolMetadata(
    classification=Classification(service_domains=[ServiceDomain.CLOUD_STORAGE]),
    behavior=Behavior(operations=[Operation.READ], read_only=True, destructive=False, open_world=True),
    extras={"team": "keys"},
)


def fingerprint(value: str) -> str:
    """First 12 hex chars of the SHA-256 of ``value`` (what tests compare)."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@tool(requires_auth=OAuth2(id="hooli", scopes=["scope1", "scope2"]), metadata=SPLINES_METADATA)
async def reticulate_splines(
    context: ToolContext,
    num_splines: Annotated[int, "The number of splines to reticulate"],
) -> dict:  # type: ignore[type-arg]  # arcade-tdk reads the bare annotation as the output schema
    """Reticulate the specified number of splines."""
    token = context.authorization.token if context.authorization else None
    user_info = context.authorization.user_info if context.authorization else {}
    return {
        "reticulated": num_splines,
        "token_sha256_prefix": fingerprint(token or ""),
        "token_length": len(token or ""),
        "sub": user_info.get("sub"),
        "user_id": context.user_id,
    }


@tool(requires_secrets=["HOOLI_API_KEY"], metadata=SECRET_METADATA)
def read_api_key_fingerprint(context: ToolContext) -> str:
    """Return a fingerprint of the Hooli API key secret (sync tool: runs in a thread)."""
    return fingerprint(context.get_secret("HOOLI_API_KEY"))


@tool
async def explode(reason: Annotated[str, "Why it fails"] = "boom") -> str:
    """Always fail with an unexpected exception."""
    raise RuntimeError(f"exploded: {reason}")


@tool
async def flaky(hint: Annotated[str, "What the agent should change"]) -> str:
    """Always fail with an error the agent may retry."""
    raise RetryableToolError("Hooli is busy", additional_prompt_content=hint, retry_after_ms=250)


@tool
async def nap(seconds: Annotated[float, "How long to sleep"]) -> float:
    """Sleep asynchronously, then return the seconds slept."""
    await asyncio.sleep(seconds)
    return seconds


@tool
def nap_sync(seconds: Annotated[float, "How long to block"]) -> float:
    """Block a thread with time.sleep, then return the seconds slept."""
    time.sleep(seconds)
    return seconds


@tool
async def ping() -> str:
    """Return at once (for benchmarks)."""
    return "pong"

"""``GET /v1/config``: the engine configuration a client may know (Arcade's ``EngineConfigResponse``).

What it says (docs/arcade-compatibility.md, "Engine configuration"): the OAuth callback URL to
register at a provider, and the longest a tool run may take. Never a key, a secret or an address
of the engine's own infrastructure. Arcade's ``dashboard`` block is left out: valetkey has no
Arcade dashboard to sign in to.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, Request

from services.gateway.routes.deps import require_api_key
from services.gateway.routes.tools import EXECUTE_MARGIN_SECONDS, execute_timeout
from shared.runtime.settings import Settings

router = APIRouter(tags=["operations"], dependencies=[Depends(require_api_key)])


def engine_config(settings: Settings) -> dict[str, Any]:
    """Arcade's ``EngineConfigResponse`` for these settings."""
    longest_run = execute_timeout(settings) - EXECUTE_MARGIN_SECONDS
    return {
        "oauth2": {"callback_url_template": settings.redirect_uri},
        "servers": {"timeout_max_seconds": math.ceil(longest_run)},
    }


@router.get("/v1/config")
async def get_config(request: Request) -> dict[str, Any]:
    """The callback URL providers must allow, and the longest tool run the engine waits for."""
    return engine_config(request.app.state.settings)

"""Session verification settings and the custom verifier's test flow, kept by the authorizer.

See docs/arcade-compatibility.md §2.4: engine.yaml's ``auth.verification`` is the default, a
project may choose its own verifier (or, where allowed, skip verification) at runtime.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from services.gateway.routes.body import documented, json_body
from services.gateway.routes.deps import Project, require_admin, require_api_key, rpc_of
from services.gateway.routes.tools import Rpc, build
from shared.bus import subjects
from shared.contracts.authorization import (
    VerificationSettings,
    VerificationSettingsWrite,
    VerifierTest,
    VerifierTestStarted,
)
from shared.contracts.common import InProject

PATH = "/v1/admin/settings/session_verification"

admin = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)])
router = APIRouter(tags=["auth"], dependencies=[Depends(require_api_key)])


class UpdateSessionVerificationSettingsRequest(BaseModel):
    """Arcade's request body: ``{}`` returns the project to engine.yaml's verification."""

    model_config = ConfigDict(extra="ignore")

    unsafe_skip_verification: bool | None = None
    verifier_url: str | None = None


class ValidateCustomVerifierRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: str
    verifier_url: str


@admin.get(PATH)
async def get_session_verification(client: Rpc, project: Project) -> dict[str, Any]:
    """The project's verification as it applies now."""
    answer = await client.call(
        subjects.VERIFICATION_SETTINGS_GET, InProject(project=project), VerificationSettings
    )
    return answer.model_dump()


@admin.put(
    PATH,
    response_model=dict[str, Any],
    openapi_extra=documented(UpdateSessionVerificationSettingsRequest),
)
async def put_session_verification(request: Request, project: Project) -> dict[str, Any]:
    """Choose the project's verifier, skip verification (if allowed, else 403), or ``{}``: engine.yaml's."""
    body = await json_body(request, UpdateSessionVerificationSettingsRequest)
    write = build(VerificationSettingsWrite, **body.model_dump(), project=project)
    answer = await rpc_of(request).call(subjects.VERIFICATION_SETTINGS_PUT, write, VerificationSettings)
    return answer.model_dump()


@router.post(
    "/v1/auth/validate_custom_verifier",
    response_model=dict[str, Any],
    openapi_extra=documented(ValidateCustomVerifierRequest),
)
async def validate_custom_verifier(request: Request, project: Project) -> dict[str, Any]:
    """Start a test flow: open ``next_uri`` (the verifier, with ``flow_id``); the verifier's
    ``confirm_user`` with the same user passes it, another user is 400 ``user_mismatch``."""
    body = await json_body(request, ValidateCustomVerifierRequest)
    command = build(VerifierTest, **body.model_dump(), project=project)
    answer = await rpc_of(request).call(subjects.AUTH_VERIFIER_TEST, command, VerifierTestStarted)
    return answer.model_dump()

"""The request bodies of ``/v1/plugins`` and ``/v1/hooks`` (shared/contracts/hook_bodies.py), validated
again here so a bad body is a 400 naming its field; the store keeps the validated dump."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from shared.contracts.hook_bodies import (
    Body,
    CreateHookRequest,
    CreatePluginRequest,
    PatchHookRequest,
    PatchPluginRequest,
)
from shared.errors import BadRequest

HookCreate = CreateHookRequest
HookPatch = PatchHookRequest
PluginCreate = CreatePluginRequest
PluginPatch = PatchPluginRequest


def parsed(model: type[Body], body: Any, *, where: str = "") -> Any:
    """``body`` validated as ``model``.

    Raises:
        BadRequest: Naming the first field at fault.
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in (where, *first["loc"]) if p != "") or "body"
        raise BadRequest(f"failed to validate request body: {path}: {first['msg']}") from exc


def set_fields(model: BaseModel) -> dict[str, Any]:
    """What the client sent (unset and null fields left out), for merging into a record."""
    return model.model_dump(exclude_none=True, exclude_unset=True)

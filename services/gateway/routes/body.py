"""JSON request bodies read straight into a model, for the hot POST routes.

FastAPI's body handling (read, ``json.loads``, field validation, error wrapping) cost
~150 µs a request on ``/v1/tools/authorize``, more than the rest of the route; one
``model_validate_json`` pass does the same work in pydantic-core. The routes that use
this declare their body with :func:`documented` so the OpenAPI document still shows it,
and errors keep FastAPI's rule and the gateway's wording: only a JSON content type is
read as JSON, anything else is a 400 in the error shape.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from services.gateway.errors import validation_message
from shared.errors import BadRequest

M = TypeVar("M", bound=BaseModel)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def json_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``.

    Raises:
        BadRequest: Not a JSON content type, not JSON, or not a valid ``model``.
    """
    if not is_json(request.headers.get("content-type", "")):
        raise BadRequest("failed to validate request body: send JSON with content-type application/json")
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise BadRequest(validation_message(exc.errors())) from exc


def documented(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the route's required JSON body."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
    }

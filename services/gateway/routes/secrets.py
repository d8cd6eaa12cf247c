"""Tool secrets admin (docs/arcade-compatibility.md §4.2): list, upsert by key (POST and PUT), delete by id.

Values never come back.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict

from services.gateway.arcade_schemas import conform
from services.gateway.domain import clamp_page, offset_page
from services.gateway.routes.deps import Extras, Project, require_admin
from services.gateway.routes.tools import Rpc, build
from shared.bus import subjects
from shared.contracts.common import Page, PageQuery
from shared.contracts.execution import Document, SecretRef, SecretWrite

router = APIRouter(prefix="/v1/admin/secrets", tags=["secrets"], dependencies=[Depends(require_admin)])


class SecretUpsertRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: str
    description: str | None = None


@router.get("")
async def list_secrets(
    client: Rpc, project: Project, limit: int | None = None, offset: int | None = None, extras: Extras = False
) -> dict[str, Any]:
    """One page of secrets' metadata (the SDKs send no paging parameters: the first 100)."""
    off, lim = clamp_page(offset, limit or 100)
    page = await client.call(subjects.SECRETS_LIST, PageQuery(offset=off, limit=lim, project=project), Page)
    return conform(offset_page(page.items, page.total_count, off, lim), "SecretPage", extras=extras)


@router.post("/{secret_key}")
@router.put("/{secret_key}")
async def upsert_secret(
    client: Rpc, project: Project, secret_key: str, body: SecretUpsertRequest, extras: Extras = False
) -> dict[str, Any]:
    """Create or replace a secret (arcadejs and the spec POST; the Arcade CLI PUTs)."""
    write = build(
        SecretWrite, key=secret_key, project=project, value=body.value, description=body.description
    )
    stored = (await client.call(subjects.SECRETS_UPSERT, write, Document)).body
    return conform(stored, "SecretResponse", extras=extras)


@router.delete("/{secret_id}", status_code=204)
async def delete_secret(client: Rpc, project: Project, secret_id: str) -> Response:
    """Delete a secret by its id (not its key)."""
    await client.call_raw(subjects.SECRETS_DELETE, build(SecretRef, id=secret_id, project=project))
    return Response(status_code=204)

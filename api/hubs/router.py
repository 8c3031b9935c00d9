"""``/hubs``: status of the practice's hubs (no patient data, so no audit rows)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from api.hubs import repository
from api.hubs.schemas import HubOut
from api.pagination import Limit, Offset, Page
from api.permissions import Permission, requires
from api.scope import Authorized

router = APIRouter(prefix="/hubs", tags=["hubs"])


@router.get("", openapi_extra=requires(Permission.HUBS_READ))
def list_hubs(
    scope: Authorized,
    limit: Limit = 50,
    offset: Offset = 0,
    state: Annotated[Literal["online", "offline", "lost", "unknown"] | None, Query()] = None,
) -> Page[HubOut]:
    with scope.transaction() as conn:
        rows, total = repository.list_hubs(conn, state, limit, offset)
    return Page[HubOut](items=rows, total=total, limit=limit, offset=offset)


@router.get("/{hub_id}", openapi_extra=requires(Permission.HUBS_READ), responses={404: {}})
def get_hub(hub_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{4,64}$")], scope: Authorized) -> HubOut:
    with scope.transaction() as conn:
        row = repository.get_hub(conn, hub_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such hub")
    return row

"""``/hubs``: status of the practice's hubs (no patient data, so no audit rows)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from api.hubs import repository
from api.hubs.schemas import HubConfigOut, HubOut
from api.pagination import Limit, Offset, Page
from api.permissions import Permission, requires
from api.scope import Authorized
from provisioning import hub_config

router = APIRouter(prefix="/hubs", tags=["hubs"])

HubId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{4,64}$")]


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
def get_hub(hub_id: HubId, scope: Authorized) -> HubOut:
    with scope.transaction() as conn:
        row = repository.get_hub(conn, hub_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such hub")
    return row


@router.get("/{hub_id}/config", openapi_extra=requires(Permission.HUBS_READ), responses={404: {}})
def get_hub_config(hub_id: HubId, scope: Authorized) -> HubConfigOut:
    """Desired vs reported configuration version, and the whitelist the hub's assignments give now."""
    with scope.transaction() as conn:
        if repository.get_hub(conn, hub_id) is None:
            raise HTTPException(status_code=404, detail="no such hub")
        return repository.hub_config_state(conn, hub_id, scope.at)


@router.post(
    "/{hub_id}/config/reissue", status_code=202, openapi_extra=requires(Permission.HUBS_MANAGE), responses={404: {}}
)
def reissue_hub_config(hub_id: HubId, scope: Authorized) -> HubConfigOut:
    """Have provisioning issue and publish the hub's desired configuration again as the next version.
    The configuration itself follows the device assignments (there is nothing else to set); this is for a
    hub that lost its retained copy. Accepted: ``carehub provisioning run`` publishes it in its next round."""
    with scope.transaction() as conn:
        if repository.get_hub(conn, hub_id) is None:
            raise HTTPException(status_code=404, detail="no such hub")
        hub_config.request_reissue(conn, hub_id, scope.at)
        return repository.hub_config_state(conn, hub_id, scope.at)

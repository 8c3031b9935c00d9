"""``/audit``: the practice's audit log, newest first (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.audit import repository
from api.audit.schemas import AuditEntryOut
from api.pagination import Limit, Offset, Page
from api.permissions import Permission, requires
from api.scope import Authorized

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", openapi_extra=requires(Permission.AUDIT_READ))
def list_audit_entries(
    scope: Authorized,
    limit: Limit = 50,
    offset: Offset = 0,
    patient_id: UUID | None = None,
    user_id: UUID | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Page[AuditEntryOut]:
    with scope.transaction() as conn:
        rows, total = repository.list_entries(
            conn, repository.AuditFilter(patient_id, user_id, start, end), limit, offset
        )
    return Page[AuditEntryOut](
        items=rows,
        total=total,
        limit=limit,
        offset=offset,
    )

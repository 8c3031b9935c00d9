"""``/users``: the practice's staff (admin)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException

from api.auth.passwords import WeakPassword
from api.pagination import Limit, Offset, Page
from api.permissions import Permission, requires
from api.scope import ApiContext, Authorized, context
from api.users import repository
from api.users.schemas import UserChange, UserCreate, UserOut
from api.users.service import create_user_with_password
from provisioning.registry import RegistryError

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", openapi_extra=requires(Permission.USERS_READ))
def list_users(scope: Authorized, limit: Limit = 50, offset: Offset = 0) -> Page[UserOut]:
    with scope.transaction() as conn:
        rows, total = repository.list_users(conn, limit, offset)
    return Page[UserOut](items=rows, total=total, limit=limit, offset=offset)


@router.post("", status_code=201, openapi_extra=requires(Permission.USERS_MANAGE), responses={409: {}})
def create_user(body: UserCreate, scope: Authorized, ctx: Annotated[ApiContext, Depends(context)]) -> UserOut:
    try:
        with scope.transaction() as conn:
            user_id = create_user_with_password(
                conn,
                ctx.passwords,
                practice_id=scope.principal.practice_id,
                email=body.email,
                display_name=body.display_name,
                role=body.role,
                credential=body.credential,
                password=body.password,
                at=scope.at,
            )
            row = repository.get_user(conn, user_id)
    except WeakPassword as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    except RegistryError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    if row is None:  # pragma: no cover - just inserted in this transaction
        raise HTTPException(status_code=500, detail="user not found after creation")
    return row


@router.patch("/{user_id}", openapi_extra=requires(Permission.USERS_MANAGE), responses={404: {}, 409: {}})
def change_user(user_id: UUID, body: UserChange, scope: Authorized) -> UserOut:
    """Change a staff member's role, credential or active flag. Deactivation applies to their live
    access and refresh tokens at once (both re-read the flag). Admins cannot change their own
    account, so a practice cannot lose its last admin by accident."""
    if user_id == scope.principal.user_id:
        raise HTTPException(status_code=409, detail="admins cannot change their own role or active flag")
    with scope.transaction() as conn:
        if not repository.update_user(conn, user_id, role=body.role, credential=body.credential, active=body.active):
            raise HTTPException(status_code=404, detail="no such user")
        row = repository.get_user(conn, user_id)
    if row is None:  # pragma: no cover - updated in this transaction
        raise HTTPException(status_code=404, detail="no such user")
    return row

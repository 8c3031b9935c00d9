"""``/auth``: login, refresh-token rotation, logout. Refusals are committed (failure counters, a
revoked token family) before the 401 goes out."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from api.auth.schemas import LoginBody, RefreshBody, TokenOut
from api.auth.service import AuthService, LoginRefused, TokenPair
from api.permissions import public
from api.scope import ApiContext, Conn, client_address, context

router = APIRouter(prefix="/auth", tags=["auth"])


def _service(ctx: ApiContext) -> AuthService:
    return AuthService(ctx.settings, ctx.passwords)


def _run(ctx: ApiContext, action: Callable[[Conn], TokenPair]) -> TokenOut:
    refused: LoginRefused | None = None
    with ctx.pool.connection() as conn, conn.transaction():
        try:
            pair = action(conn)
        except LoginRefused as exc:
            refused = exc
    if refused is not None:
        raise HTTPException(status_code=401, detail=str(refused), headers={"WWW-Authenticate": "Bearer"})
    return TokenOut(access_token=pair.access_token, expires_in=pair.expires_in_s, refresh_token=pair.refresh_token)


@router.post("/login", openapi_extra=public(), responses={401: {}, 429: {}})
def login(body: LoginBody, request: Request, ctx: Annotated[ApiContext, Depends(context)]) -> TokenOut:
    now = ctx.clock()
    wait_s = ctx.login_limiter.attempt(client_address(request) or "unknown", now.timestamp())
    if wait_s is not None:
        raise HTTPException(
            status_code=429, detail="too many login attempts", headers={"Retry-After": str(math.ceil(wait_s))}
        )
    service = _service(ctx)
    return _run(ctx, lambda conn: service.login(conn, body.email, body.password, now))


@router.post("/refresh", openapi_extra=public(), responses={401: {}})
def refresh(body: RefreshBody, ctx: Annotated[ApiContext, Depends(context)]) -> TokenOut:
    service = _service(ctx)
    now = ctx.clock()
    return _run(ctx, lambda conn: service.refresh(conn, body.refresh_token, now))


@router.post("/logout", openapi_extra=public(), status_code=204)
def logout(body: RefreshBody, ctx: Annotated[ApiContext, Depends(context)]) -> None:
    with ctx.pool.connection() as conn, conn.transaction():
        _service(ctx).logout(conn, body.refresh_token, ctx.clock())

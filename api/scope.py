"""Who is asking, and the practice-scoped database transaction every authenticated request runs in.

The authorization dependency authenticates the bearer token, re-reads the user's role and active flag,
checks the permission the matched route declares against ``role_permissions``, and hands the route a
:class:`Scope`. ``Scope.transaction()`` runs ``SET LOCAL ROLE carehub_api`` and sets
``carehub.practice_id`` for that transaction only, so PostgreSQL row-level security (migration 0400)
confines every query to the user's practice even when a query forgets its filter."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from api.auth.passwords import Passwords
from api.auth.rate_limit import SlidingWindowLimiter
from api.auth.tokens import InvalidToken, read_access_token
from api.permissions import PERMISSION_KEY, PUBLIC
from api.settings import ApiSettings

Conn = psycopg.Connection[tuple[Any, ...]]
API_ROLE = "carehub_api"


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the application factory builds once and every request shares (on ``app.state``)."""

    settings: ApiSettings
    pool: ConnectionPool[Conn]
    clock: Callable[[], datetime]
    passwords: Passwords
    login_limiter: SlidingWindowLimiter


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: UUID
    practice_id: UUID
    role: str


async def context(request: Request) -> ApiContext:
    # async: it does no I/O, so it runs on the event loop instead of costing a thread-pool hop.
    ctx: ApiContext = request.app.state.context
    return ctx


@contextmanager
def practice_transaction(pool: ConnectionPool[Conn], practice_id: UUID, user_id: UUID) -> Iterator[Conn]:
    """One transaction as ``carehub_api`` scoped to ``practice_id``; commits on normal exit."""
    with pool.connection() as conn, conn.transaction():
        # set_config('role', …, true) is SET LOCAL ROLE; one round trip for the role and the practice.
        conn.execute(
            "SELECT set_config('role', %s, true), set_config('carehub.practice_id', %s, true),"
            " set_config('carehub.user_id', %s, true)",
            (API_ROLE, str(practice_id), str(user_id)),
        )
        yield conn


@dataclass(frozen=True, slots=True)
class Scope:
    """An authenticated, authorized request: the principal, the time, and where it came from."""

    principal: Principal
    pool: ConnectionPool[Conn]
    at: datetime
    method: str
    route: str
    client_address: str | None

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        with practice_transaction(self.pool, self.principal.practice_id, self.principal.user_id) as conn:
            yield conn

    def audit(
        self, conn: Conn, action: str, *, patient_id: UUID | None = None, patient_ids: Sequence[UUID] = ()
    ) -> None:
        """Record this request's read or change of patient data, in the transaction that does it."""
        conn.execute(
            "INSERT INTO audit_log (practice_id, user_id, at, action, patient_id, patient_ids, method, route,"
            " client_address) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                self.principal.practice_id,
                self.principal.user_id,
                self.at,
                action,
                patient_id,
                list(patient_ids),
                self.method,
                self.route,
                self.client_address,
            ),
        )


_bearer = HTTPBearer(auto_error=False, description="An access token from POST /auth/login.")


def route_permission(request: Request) -> str | None:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    permission = extra.get(PERMISSION_KEY)
    return str(permission) if permission else None


def client_address(request: Request) -> str | None:
    """The peer's IP address (as the audit log's inet column takes it), or None."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def authorize(
    request: Request,
    ctx: Annotated[ApiContext, Depends(context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Scope:
    permission = route_permission(request)
    if permission is None or permission == PUBLIC:
        # A route that forgot to declare its permission is refused, never open.
        raise HTTPException(status_code=500, detail="route declares no permission")
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("a bearer token is required")
    now = ctx.clock()
    try:
        claims = read_access_token(ctx.settings.signing_key(), credentials.credentials, now=now)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from exc
    with ctx.pool.connection() as conn:
        row = conn.execute(
            "SELECT u.role, u.active, EXISTS (SELECT 1 FROM role_permissions rp"
            "  WHERE rp.role = u.role AND rp.permission = %s)"
            " FROM users u WHERE u.id = %s AND u.practice_id = %s",
            (permission, claims.user_id, claims.practice_id),
        ).fetchone()
    if row is None or not row[1]:
        raise _unauthorized("the user is unknown or deactivated")
    if not row[2]:
        raise HTTPException(status_code=403, detail=f"the role {row[0]} lacks the permission {permission}")
    route = request.scope.get("route")
    return Scope(
        principal=Principal(claims.user_id, claims.practice_id, str(row[0])),
        pool=ctx.pool,
        at=now,
        method=request.method,
        route=str(getattr(route, "path", request.url.path)),
        client_address=client_address(request),
    )


Authorized = Annotated[Scope, Depends(authorize)]

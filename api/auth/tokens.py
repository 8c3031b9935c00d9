"""Access tokens (JWT, RFC 7519, HS256 over a key from settings) and opaque refresh tokens.

Access tokens are short-lived and carry who the user is and which practice scopes them; the role is
re-read from the database on every request, so a role change or deactivation applies at once.
Time is passed in: expiry is checked against the caller's clock, not PyJWT's."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import jwt

from core.errors import CarehubError

ISSUER = "carehub"
AUDIENCE = "carehub-api"
ALGORITHM = "HS256"
_CLOCK_SKEW_S = 5


class InvalidToken(CarehubError):
    """The bearer token is missing, malformed, badly signed or expired."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    practice_id: UUID
    expires_at: datetime


def issue_access_token(key: bytes, *, user_id: UUID, practice_id: UUID, now: datetime, ttl_s: int) -> str:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "prc": str(practice_id),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_access_token(key: bytes, token: str, *, now: datetime) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "prc"], "verify_exp": False, "verify_iat": False},
        )
        user_id = UUID(claims["sub"])
        practice_id = UUID(claims["prc"])
        exp = int(claims["exp"])
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidToken("invalid access token") from exc
    if now.timestamp() >= exp + _CLOCK_SKEW_S:
        raise InvalidToken("access token expired")
    return AccessClaims(user_id, practice_id, datetime.fromtimestamp(exp, now.tzinfo))


def new_refresh_token() -> tuple[str, bytes]:
    """A refresh token for the client and the SHA-256 digest that is all the database keeps."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_digest(token)


def refresh_token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()

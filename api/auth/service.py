"""Login, refresh-token rotation and logout.

Every refusal says the same thing ("invalid credentials"), whether the email is unknown, the account
deactivated or locked, or the password wrong, so the API does not tell who has an account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from api.auth import repository
from api.auth.lockout import LockoutPolicy
from api.auth.passwords import Passwords
from api.auth.repository import Conn
from api.auth.tokens import issue_access_token, new_refresh_token, refresh_token_digest
from api.settings import ApiSettings
from core.errors import CarehubError


class LoginRefused(CarehubError):
    """The credentials or the refresh token were not accepted."""


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in_s: int
    refresh_token: str


@dataclass(frozen=True, slots=True)
class AuthService:
    settings: ApiSettings
    passwords: Passwords

    @property
    def lockout(self) -> LockoutPolicy:
        return LockoutPolicy(self.settings.api_login_max_failures, self.settings.api_login_lockout_s)

    def login(self, conn: Conn, email: str, password: str, now: datetime) -> TokenPair:
        """Verify and issue tokens; failures are counted in ``conn``'s transaction, which the caller commits."""
        cred = repository.credential_for_update(conn, email)
        if cred is None or not cred.active or cred.password_hash is None:
            self.passwords.verify(None, password)
            raise LoginRefused("invalid credentials")
        if self.lockout.is_locked(cred.locked_until, now):
            self.passwords.verify(None, password)
            raise LoginRefused("invalid credentials")
        if not self.passwords.verify(cred.password_hash, password):
            failures, locked_until = self.lockout.after_failure(cred.failed_logins, now)
            repository.record_failure(conn, cred.id, failures, locked_until)
            raise LoginRefused("invalid credentials")
        repository.record_success(conn, cred.id, now)
        if self.passwords.needs_rehash(cred.password_hash):
            repository.set_password(conn, cred.id, self.passwords.hasher.hash(password), now)
        return self._issue(conn, cred.practice_id, cred.id, uuid.uuid4(), now)

    def refresh(self, conn: Conn, token: str, now: datetime) -> TokenPair:
        """Rotate: the presented token is spent and its successor issued in the same family. A spent
        token presented again means it was copied: the whole family is revoked."""
        stored = repository.refresh_token_for_update(conn, refresh_token_digest(token))
        if stored is None or stored.revoked_at is not None:
            raise LoginRefused("invalid refresh token")
        if stored.used_at is not None:
            repository.revoke_family(conn, stored.family_id, now, "reuse_detected")
            raise LoginRefused("invalid refresh token")
        if now >= stored.expires_at or not stored.user_active:
            raise LoginRefused("invalid refresh token")
        repository.mark_used(conn, stored.id, now)
        return self._issue(conn, stored.practice_id, stored.user_id, stored.family_id, now)

    def logout(self, conn: Conn, token: str, now: datetime) -> None:
        stored = repository.refresh_token_for_update(conn, refresh_token_digest(token))
        if stored is not None:
            repository.revoke_family(conn, stored.family_id, now, "logout")

    def _issue(
        self, conn: Conn, practice_id: uuid.UUID, user_id: uuid.UUID, family_id: uuid.UUID, now: datetime
    ) -> TokenPair:
        ttl_s = self.settings.api_access_token_ttl_s
        access = issue_access_token(
            self.settings.signing_key(), user_id=user_id, practice_id=practice_id, now=now, ttl_s=ttl_s
        )
        refresh, digest = new_refresh_token()
        repository.store_refresh_token(
            conn,
            practice_id=practice_id,
            user_id=user_id,
            family_id=family_id,
            digest=digest,
            issued_at=now,
            expires_at=now + timedelta(seconds=self.settings.api_refresh_token_ttl_s),
        )
        return TokenPair(access, ttl_s, refresh)

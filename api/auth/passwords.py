"""Password hashing with argon2id (RFC 9106) through argon2-cffi's defaults (the RFC's second
recommended profile), with transparent rehashing when the parameters change."""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import CarehubError

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024


class WeakPassword(CarehubError):
    """The password is refused (advice: at least 12 characters)."""


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_CHARS} characters")


@dataclass(slots=True)
class Passwords:
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    # Verified when the account does not exist, so an unknown email costs as much time as a known one.
    _dummy: str = ""

    def hash(self, password: str) -> str:
        check_password_policy(password)
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        if stored is None:
            if not self._dummy:
                self._dummy = self.hasher.hash("carehub-dummy-password")
            self._matches(self._dummy, password)
            return False
        return self._matches(stored, password)

    def _matches(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)

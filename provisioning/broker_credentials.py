"""Broker credentials: the Mosquitto password file for hubs and services.

Mosquitto 2.x stores ``username:$7$<iterations>$<salt>$<hash>``: PBKDF2-HMAC-SHA512 over the password
with a 12-byte random salt, 64-byte output, both standard base64 (the format ``mosquitto_passwd``
writes). Generating it here means provisioning does not need the mosquitto tools installed.
Passwords are never logged; the file is written owner-readable only."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from core.errors import CarehubError

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$
SALT_BYTES = 12
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class InvalidBrokerUsername(CarehubError):
    """A broker username may not contain ':' or whitespace, and is at most 64 characters."""


def new_password() -> str:
    """A random password for a hub or service (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def password_entry(username: str, password: str, *, salt: bytes | None = None) -> str:
    if not _USERNAME_RE.match(username):
        raise InvalidBrokerUsername(f"invalid broker username {username!r}")
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, dklen=64)
    return f"{username}:$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def write_password_file(path: Path, credentials: Mapping[str, str]) -> None:
    """Write (atomically) a password file with one entry per username."""
    write_password_entries(path, [password_entry(user, password) for user, password in sorted(credentials.items())])


def write_password_entries(path: Path, entries: Sequence[str]) -> None:
    """Write (atomically, owner-readable only) a password file from already-hashed entries."""
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)
    tmp.write_text("\n".join(entries) + "\n")
    tmp.replace(path)

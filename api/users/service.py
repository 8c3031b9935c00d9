"""Creating a staff user with a password: the registry's user plus an argon2id hash, in one
transaction. Shared by ``POST /users`` and ``carehub users create``."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from api.auth.passwords import Passwords
from api.auth.repository import set_password
from api.scope import Conn
from provisioning.registry import create_user


def create_user_with_password(
    conn: Conn,
    passwords: Passwords,
    *,
    practice_id: UUID,
    email: str,
    display_name: str,
    role: str,
    credential: str,
    password: str,
    at: datetime,
) -> UUID:
    password_hash = passwords.hash(password)  # refuses a weak password before anything is written
    user_id = create_user(
        conn, practice_id=practice_id, email=email, display_name=display_name, role=role, credential=credential
    )
    set_password(conn, user_id, password_hash, at)
    return user_id

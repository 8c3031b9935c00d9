"""Identifiers: UUIDv7 (RFC 9562 §5.7) for records created by carehub, and parsing of the reading
ids hubs create (UUID of any version, or a 26-character ULID, which is the same 128 bits)."""

from __future__ import annotations

import os
import re
from uuid import UUID

from core.errors import CarehubError

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_VALUE = {c: i for i, c in enumerate(_CROCKFORD)}
_ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


class InvalidIdentifier(CarehubError, ValueError):
    """A string is neither a UUID nor a ULID."""


def uuid7(unix_ms: int, random_bytes: bytes | None = None) -> UUID:
    """A UUIDv7 for the given Unix time in milliseconds: time-ordered, so B-tree inserts stay local.

    The clock is passed in (no clock is read here); ``random_bytes`` (10 bytes) makes it reproducible."""
    if not 0 <= unix_ms < 1 << 48:
        raise InvalidIdentifier(f"unix_ms out of range for UUIDv7: {unix_ms}")
    rand = random_bytes if random_bytes is not None else os.urandom(10)
    if len(rand) != 10:
        raise InvalidIdentifier("UUIDv7 needs exactly 10 random bytes")
    rand_int = int.from_bytes(rand, "big")
    rand_a = (rand_int >> 68) & 0xFFF
    rand_b = rand_int & ((1 << 62) - 1)
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return UUID(int=value)


def parse_ulid(text: str) -> UUID:
    """The 128-bit value of a ULID (Crockford base32, case-insensitive) as a UUID."""
    upper = text.upper()
    if not _ULID_RE.match(upper):
        raise InvalidIdentifier(f"not a ULID: {text!r}")
    value = 0
    for char in upper:
        value = (value << 5) | _CROCKFORD_VALUE[char]
    return UUID(int=value)


def format_ulid(value: UUID) -> str:
    """The 26-character ULID text of a 128-bit id."""
    number = value.int
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[number & 0x1F])
        number >>= 5
    return "".join(reversed(chars))


def parse_reading_id(text: str) -> UUID:
    """Parse a hub-generated reading id: a UUID (any version) or a ULID."""
    if len(text) == 26:
        return parse_ulid(text)
    if _UUID_RE.match(text):
        return UUID(text)
    raise InvalidIdentifier(f"reading id is neither a UUID nor a ULID: {text[:40]!r}")

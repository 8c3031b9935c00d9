"""Identifiers logistics staff type or import: IMEI (3GPP TS 23.003 §6.2.1, Luhn check digit over
the 14-digit body), the Medicare Beneficiary Identifier (CMS MBI format specification: 11 characters,
positions typed numeric / alphabetic / alphanumeric, letters S L O I B Z never used), BLE addresses
(upper-case, colon separated, as ingest and the hub whitelist expect) and device serials.

Each ``normalise_*`` returns the canonical form or raises :class:`InvalidIdentifier` with the reason.
An MBI is patient data: error messages never echo it."""

from __future__ import annotations

import re

from core.errors import CarehubError


class InvalidIdentifier(CarehubError, ValueError):
    """A device or patient identifier does not match its format or check digit."""


_DIGITS = re.compile(r"^[0-9]+$")
_SERIAL = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_BLE = re.compile(r"^[0-9A-F]{2}([:-]?[0-9A-F]{2}){5}$")

# CMS MBI: C = 1-9, N = 0-9, A = alphabetic without S L O I B Z, AN = A or N.
_MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"
_MBI_ALNUM = "0123456789" + _MBI_LETTERS
_MBI_POSITIONS = (
    "123456789",
    _MBI_LETTERS,
    _MBI_ALNUM,
    "0123456789",
    _MBI_LETTERS,
    _MBI_ALNUM,
    "0123456789",
    _MBI_LETTERS,
    _MBI_LETTERS,
    "0123456789",
    "0123456789",
)


def luhn_check_digit(body: str) -> int:
    """The Luhn digit that completes ``body`` (digits only): double every second digit from the right."""
    total = 0
    for i, char in enumerate(reversed(body)):
        digit = int(char)
        if i % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def normalise_imei(text: str) -> str:
    imei = text.strip().replace(" ", "").replace("-", "")
    if len(imei) != 15 or not _DIGITS.match(imei):
        raise InvalidIdentifier("an IMEI has exactly 15 digits")
    if luhn_check_digit(imei[:14]) != int(imei[14]):
        raise InvalidIdentifier(f"IMEI {imei} fails its check digit")
    return imei


def normalise_mbi(text: str) -> str:
    """The MBI without dashes, upper-case. Dashes are allowed only where CMS prints them (4-3-4)."""
    raw = text.strip().upper()
    mbi = raw.replace("-", "")
    if "-" in raw and not re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{3}-[0-9A-Z]{4}", raw):
        raise InvalidIdentifier("an MBI is written as 11 characters or in 4-3-4 groups")
    if len(mbi) != 11:
        raise InvalidIdentifier("an MBI has 11 characters")
    for position, (char, allowed) in enumerate(zip(mbi, _MBI_POSITIONS, strict=True), start=1):
        if char not in allowed:
            raise InvalidIdentifier(f"MBI position {position} has a character that position does not allow")
    return mbi


def normalise_ble_address(text: str) -> str:
    address = text.strip().upper()
    if not _BLE.match(address):
        raise InvalidIdentifier(f"not a BLE address: {text[:40]!r}")
    hex_only = address.replace(":", "").replace("-", "")
    return ":".join(hex_only[i : i + 2] for i in range(0, 12, 2))


def normalise_serial(text: str) -> str:
    serial = text.strip()
    if not _SERIAL.match(serial):
        raise InvalidIdentifier(f"a serial is 1-64 letters, digits or . _ : - (got {text[:70]!r})")
    return serial

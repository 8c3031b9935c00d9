"""IMEIs as cellular RPM devices carry them (3GPP TS 23.003 §6.2: TAC 8 digits, serial 6 digits,
Luhn check digit), and the trap BodyTrace sets: its ``deviceId`` is the IMEI without the check digit
and without leading zeros, as a JSON number (``reference/cellular-and-logistics.md`` §1.1).
"""

from __future__ import annotations

import numpy as np

from firmware_sim.errors import SimulationError

IMEI_DIGITS = 15
TACS = ("35787204", "86459305", "49015420", "01326300", "00440245")
"""Type Allocation Codes to draw from; the last two start with 0, so their BodyTrace deviceId loses
digits (the reference's IMEI-format trap)."""


def luhn_digit(body: str) -> int:
    """The Luhn check digit of ``body`` (doubling every second digit from the right)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        digit = int(ch) * (2 if i % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return (10 - total % 10) % 10


def make_imei(tac: str, serial: int) -> str:
    if len(tac) != 8 or not tac.isdigit() or not 0 <= serial < 10**6:
        raise SimulationError(f"an IMEI is an 8-digit TAC and a 6-digit serial, not {tac!r}/{serial}")
    body = f"{tac}{serial:06d}"
    return body + str(luhn_digit(body))


def random_imei(rng: np.random.Generator, *, leading_zero: bool | None = None) -> str:
    """A valid IMEI; ``leading_zero`` forces (or avoids) a TAC starting with 0."""
    choices = [t for t in TACS if leading_zero is None or t.startswith("0") == leading_zero]
    return make_imei(choices[int(rng.integers(len(choices)))], int(rng.integers(10**6)))


def bodytrace_device_id(imei: str) -> int:
    """BodyTrace's ``deviceId``: the IMEI's first 14 digits as a number (leading zeros lost)."""
    if len(imei) != IMEI_DIGITS or not imei.isdigit() or luhn_digit(imei[:14]) != int(imei[14]):
        raise SimulationError(f"not a valid IMEI: {imei!r}")
    return int(imei[:14])

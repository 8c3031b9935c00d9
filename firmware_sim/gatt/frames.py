"""Table-driven framing shared by the SIG health measurements.

Every SIG health measurement is a flags field followed by fields in a fixed order, each optional field
present exactly when its flag bit is set (reference §0). A profile states its layout once as a table of
:class:`FieldSpec` rows; :func:`encode_frame` walks the table, sets the presence bits of the fields
the sample carries and packs them little-endian with no padding. The same table enumerates every
presence combination (:func:`presence_variants`), which is how round-trip tests cover all flags.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from firmware_sim.errors import SimulationError

S = TypeVar("S")

ALWAYS = 0
"""The presence flag of a mandatory field."""


@dataclass(frozen=True, slots=True)
class FieldSpec(Generic[S]):
    """One row of a layout: a field, the flag bit that announces it, and how the sample encodes it.

    ``encode`` returns ``None`` when the sample does not carry the field; ``attrs`` names the sample
    attributes that hold it, so a variant without the field sets them to ``None``."""

    name: str
    flag: int
    encode: Callable[[S], bytes | None]
    attrs: tuple[str, ...] = ()


def encode_frame(sample: S, layout: Sequence[FieldSpec[S]], *, flags: int = 0, flags_size: int = 1) -> bytes:
    """The characteristic value: flags (``flags`` plus the presence bits) then the fields in order."""
    body = bytearray()
    for spec in layout:
        encoded = spec.encode(sample)
        if encoded is None:
            if spec.flag == ALWAYS:
                raise SimulationError(f"mandatory field {spec.name!r} is missing")
            continue
        flags |= spec.flag
        body += encoded
    return flags.to_bytes(flags_size, "little") + bytes(body)


def presence_variants(sample: S, layout: Sequence[FieldSpec[S]]) -> Iterator[S]:
    """``sample`` with every subset of its optional fields removed (all 2^n presence combinations of
    the n optional fields it carries), starting with the sample itself."""
    optional = [spec for spec in layout if spec.flag != ALWAYS and spec.attrs and spec.encode(sample) is not None]
    for kept in itertools.product((True, False), repeat=len(optional)):
        dropped: dict[str, Any] = {}
        for spec, keep in zip(optional, kept, strict=True):
            if not keep:
                dropped.update(dict.fromkeys(spec.attrs))
        yield dataclasses.replace(sample, **dropped) if dropped else sample  # type: ignore[type-var]


def uint(value: int, size: int) -> bytes:
    """An unsigned little-endian integer field."""
    return value.to_bytes(size, "little", signed=False)


def sint(value: int, size: int) -> bytes:
    """A two's-complement little-endian integer field."""
    return value.to_bytes(size, "little", signed=True)


def nibbles(low: int, high: int) -> bytes:
    """Two 4-bit fields sharing an octet: the field listed first in the table in bits 0-3 (reference §0)."""
    if not (0 <= low <= 0xF and 0 <= high <= 0xF):
        raise SimulationError(f"nibble values must be 0..15, not {low}, {high}")
    return bytes(((high << 4) | low,))


def optional(value: S | None, encode: Callable[[S], bytes]) -> bytes | None:
    """``encode(value)``, or ``None`` when the sample does not carry the field."""
    return None if value is None else encode(value)

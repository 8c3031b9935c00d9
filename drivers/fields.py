"""Table-driven decoding of GATT characteristic values (CONVENTIONS.md "Decode from tables").

A profile describes its value as a :class:`Layout`: an optional leading flags field and a table of
:class:`Field` rows, each a name, a :class:`Codec` (struct format + converter) and the flag bit that
makes it present. The layout compiles one :class:`struct.Struct` per flag combination on first use,
so decoding a frame is one ``unpack_from`` plus the converters.

Rules from reference/ble-health-profiles.md §0 that live here, once: little-endian, no padding;
optional fields in table order when their flag is set; the expected length is computed from the
flags *before* reading, and a short value is a :class:`TruncatedFrame` (or :class:`MissingField`
when an announced optional field is what is missing); bytes past the last field are returned as
``trailing`` for the caller to keep; RFU flag bits are ignored, never rejected."""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntFlag
from typing import Any, Final

from core.domain import ReadingFlag
from drivers.errors import DecodeError, MissingField, TruncatedFrame
from drivers.ieee11073 import medfloat32, sfloat


def _same(value: int) -> int:
    return value


@dataclass(frozen=True, slots=True)
class Codec:
    """How one field is read: ``fmt`` (struct codes, little-endian, no prefix) and a converter that
    takes the unpacked integers as positional arguments."""

    name: str
    fmt: str
    convert: Callable[..., Any] = _same

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.fmt)

    @property
    def arity(self) -> int:
        return len(self.fmt)


UINT8: Final = Codec("uint8", "B")
UINT16: Final = Codec("uint16", "H")
SINT16: Final = Codec("sint16", "h")
UINT24: Final = Codec("uint24", "HB", lambda low, high: low | high << 16)
UINT32: Final = Codec("uint32", "I")
UINT64: Final = Codec("uint64", "Q")
SFLOAT: Final = Codec("medfloat16", "H", sfloat)
FLOAT: Final = Codec("medfloat32", "I", medfloat32)
NIBBLES: Final = Codec("uint4 pair", "B", lambda octet: (octet & 0x0F, octet >> 4))
"""Two 4-bit fields in one octet: the one listed first is the low nibble (§0)."""


@dataclass(frozen=True, slots=True)
class Field:
    """One row of a layout table: present always (``present_if`` 0) or when that flag bit is set."""

    name: str
    codec: Codec
    present_if: int = 0


@dataclass(frozen=True, slots=True)
class _Plan:
    struct: struct.Struct
    steps: tuple[tuple[str, Callable[..., Any], int, int], ...]
    absent: Mapping[str, None]
    fields: tuple[Field, ...]


class Layout:
    """A characteristic value as a table of fields behind an optional flags field."""

    __slots__ = ("_flag_mask", "_flag_size", "_plans", "fields", "flags", "name")

    def __init__(self, name: str, flags: Codec | None, fields: tuple[Field, ...]) -> None:
        self.name = name
        self.flags = flags
        self.fields = fields
        self._flag_mask = 0
        self._flag_size = flags.size if flags else 0
        for spec in fields:
            self._flag_mask |= spec.present_if
        self._plans: dict[int, _Plan] = {}

    def _plan(self, flags: int) -> _Plan:
        plan = self._plans.get(flags)
        if plan is None:
            present = tuple(f for f in self.fields if not f.present_if or flags & f.present_if)
            fmt = "<" + (self.flags.fmt if self.flags else "") + "".join(f.codec.fmt for f in present)
            steps = []
            index = 1 if self.flags else 0
            for spec in present:
                # stop = 0 marks a one-value field, converted without slicing (the common case)
                stop = 0 if spec.codec.arity == 1 else index + spec.codec.arity
                steps.append((spec.name, spec.codec.convert, index, stop))
                index += spec.codec.arity
            absent = {f.name: None for f in self.fields if f not in present}
            plan = _Plan(struct.Struct(fmt), tuple(steps), absent, present)
            self._plans[flags] = plan
        return plan

    def decode(self, data: bytes, offset: int = 0) -> tuple[int, dict[str, Any], bytes]:
        """Return ``(flags, {field name: value or None}, trailing bytes)``."""
        flags = 0
        if self._flag_size:
            if len(data) - offset < self._flag_size:
                raise TruncatedFrame(f"{self.name}: no flags field", data)
            flags = data[offset] if self._flag_size == 1 else int.from_bytes(data[offset : offset + 2], "little")
        plan = self._plan(flags & self._flag_mask)
        if len(data) - offset < plan.struct.size:
            raise self._shortfall(plan, flags, data, offset)
        raw = plan.struct.unpack_from(data, offset)
        values: dict[str, Any] = dict(plan.absent)
        try:
            for name, convert, start, stop in plan.steps:
                values[name] = convert(raw[start]) if not stop else convert(*raw[start:stop])
        except DecodeError as exc:
            raise exc.attach(data) from None
        return flags, values, data[offset + plan.struct.size :]

    def _shortfall(self, plan: _Plan, flags: int, data: bytes, offset: int) -> TruncatedFrame:
        end = offset + (self.flags.size if self.flags else 0)
        for spec in plan.fields:
            end += spec.codec.size
            if end > len(data):
                if spec.present_if:
                    return MissingField(
                        f"{self.name}: flags 0x{flags:02x} announce {spec.name} but the value ends "
                        f"after {len(data)} bytes",
                        data,
                        field=spec.name,
                    )
                return TruncatedFrame(f"{self.name}: value ends before {spec.name} ({len(data)} bytes)", data)
        raise AssertionError("unreachable: shortfall without a short field")  # pragma: no cover


def flags_from_bits(bits: int, table: Mapping[Any, ReadingFlag]) -> frozenset[ReadingFlag]:
    """The reading flags for every set bit that ``table`` (bit mask → flag) names; other bits
    (RFU) are ignored, as the SIG requires of a receiver."""
    if not bits:
        return _NO_FLAGS
    return frozenset(flag for mask, flag in table.items() if bits & mask)


_NO_FLAGS: Final[frozenset[ReadingFlag]] = frozenset()


def set_bits(value: IntFlag) -> list[str]:
    """Names of the defined bits set in ``value``, lower-case, in bit order (for JSON)."""
    return [member.name.lower() for member in type(value) if member.name and member in value]

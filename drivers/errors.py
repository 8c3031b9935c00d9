"""Typed decode errors. Every way a frame or vendor payload can be wrong has its own class, and each
carries the reason and the raw input as hex, so a rejected frame lands in the dead-letter store with
everything needed to reproduce it (CONVENTIONS.md "Two outcomes for bad input").

Decoders never raise a bare ``ValueError``, ``struct.error`` or ``KeyError``; the property tests in
``tests/drivers`` feed arbitrary bytes and JSON to every decoder to hold them to that."""

from __future__ import annotations

from core.errors import CarehubError


class DecodeError(CarehubError):
    """A frame or payload that cannot be decoded. ``raw_hex`` is the whole input, lower-case hex.

    Shared decoders (SFLOAT, Date Time) raise without the raw input; the frame decoder around them
    attaches it with :meth:`attach` before the error leaves the package."""

    def __init__(self, reason: str, raw: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw_hex = raw.hex()

    def attach(self, raw: bytes) -> DecodeError:
        if not self.raw_hex:
            self.raw_hex = raw.hex()
        return self

    def __str__(self) -> str:
        return f"{type(self).__name__}: {self.reason} (raw {self.raw_hex or '<empty>'})"


class TruncatedFrame(DecodeError):
    """The value ends before a mandatory field does."""


class MissingField(TruncatedFrame):
    """A flag announces an optional field that the value does not contain."""

    def __init__(self, reason: str, raw: bytes = b"", *, field: str = "") -> None:
        super().__init__(reason, raw)
        self.field = field


class TrailingBytes(DecodeError):
    """Bytes after the last field the flags announce (raised only in strict decoding; by default
    they are kept on the frame as ``trailing``, reference §0)."""


class ReservedValue(DecodeError):
    """A value that is reserved for future use, or not allowed where it stands, in a field that
    decides how the rest of the value is read (an RACP op code, operator or filter type)."""


class DateOutOfRange(DecodeError):
    """A Date Time field outside its range (year 1582–9999 or 0, month 0–12, …) or not a calendar date."""


class MalformedValue(DecodeError):
    """A value that is not in the format at all: invalid UTF-8 in a string characteristic, a vendor
    body that is not JSON, or a vendor field of the wrong type or missing."""


class ImplausibleValue(MalformedValue):
    """A vendor value whose unit cannot be told from its magnitude; quarantined, never guessed."""


class UnknownVendorField(DecodeError):
    """A vendor measurement key or metric carehub does not know. Refused rather than dropped, so a
    new kind of reading is noticed in the dead-letter store instead of silently lost."""


class UnknownCharacteristic(DecodeError):
    """No decoder is registered for this characteristic UUID."""


class UnknownVendor(DecodeError):
    """No decoder is registered for this vendor name."""

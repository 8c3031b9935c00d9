"""The hub → cloud readings message and the cloud → hub acknowledgement, as JSON on the wire
(``docs/wire-formats/mqtt.md``; DESIGN.md §3). pydantic lives here, at the edge; everything behind
it works with :mod:`core.domain` values.

Two decoders read ``up/readings``: the msgspec structs at the end of this module (the fast path: a
well-formed message decodes straight into slotted structs at a few microseconds per reading) and the
pydantic models, which say *what* is wrong with a message the fast path refused. The structs accept
nothing the models refuse (``tests/ingest/test_fast_wire.py`` checks both on every class of input);
where they differ they refuse, and the models decide.

Unknown keys are ignored rather than refused, so a newer gateway can add optional fields without an
older ingest dropping its readings during a rolling upgrade."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import msgspec
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from core.domain import MeasuredAtSource

BATCH_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
SERIAL_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
BLE_ADDRESS_PATTERN = r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$"
FLAG_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
MAX_OBSERVATIONS_PER_READING = 16
MAX_FLAGS_PER_READING = 64  # every ReadingFlag (50 today) fits, with room for new ones


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ReadingsEnvelope(_Wire):
    """``up/readings``: one batch of readings from one hub."""

    v: Annotated[StrictInt, Field(ge=1, le=1)] = 1
    batch_id: Annotated[StrictStr, Field(pattern=BATCH_ID_PATTERN)]
    session: Annotated[StrictInt, Field(ge=0)] | None = None
    seq: Annotated[StrictInt, Field(ge=0)] | None = None
    sent_at: AwareDatetime | None = None
    # Each reading is validated on its own so one bad reading never sinks its batch.
    readings: Annotated[list[Any], Field(min_length=1)]


class ObservationIn(_Wire):
    code: Annotated[StrictStr, Field(max_length=64)]
    value: StrictFloat | None = None
    unit: Annotated[StrictStr, Field(max_length=16)]
    special: Annotated[StrictStr, Field(max_length=16)] | None = None


class ReadingIn(_Wire):
    reading_id: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    device_serial: Annotated[StrictStr, Field(pattern=SERIAL_PATTERN)]
    device_address: Annotated[StrictStr, Field(pattern=BLE_ADDRESS_PATTERN)] | None = None
    kind: Annotated[StrictStr, Field(max_length=32)]
    measured_at: AwareDatetime
    measured_at_source: MeasuredAtSource
    received_at: AwareDatetime
    from_device_memory: StrictBool = False
    observations: Annotated[list[ObservationIn], Field(min_length=1, max_length=MAX_OBSERVATIONS_PER_READING)]
    flags: Annotated[
        list[Annotated[str, Field(pattern=FLAG_PATTERN)]],
        Field(max_length=MAX_FLAGS_PER_READING),
    ] = Field(default_factory=list)
    user_index: Annotated[StrictInt, Field(ge=0, le=255)] | None = None
    battery_pct: Annotated[StrictInt, Field(ge=0, le=100)] | None = None


@dataclass(frozen=True, slots=True)
class RejectedId:
    reading_id: str
    reason: str


_ENCODE = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class ReadingsAck:
    """``down/readings/ack``: sent after the database commit. Every reading id of the batch that
    could be read appears in exactly one list; the hub deletes all of them from its outbox
    (a rejected reading will not be accepted by sending it again). ``error`` is set when the message
    as a whole could not be processed."""

    batch_id: str | None
    accepted: list[str] = field(default_factory=list)
    duplicate: list[str] = field(default_factory=list)
    rejected: list[RejectedId] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "batch_id": self.batch_id,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": [{"reading_id": r.reading_id, "reason": r.reason} for r in self.rejected],
        }
        if self.error is not None:
            body["error"] = self.error
        return _ENCODE(body)  # compact, keys in this order (UTF-8 rather than \u escapes)

    @classmethod
    def from_json(cls, payload: bytes) -> ReadingsAck:
        """The hub side: parse an ack, keeping every well-formed reading id and skipping the rest
        (an id the hub does not hold is ignored by it anyway). Raises ``ValueError`` for a payload
        that is not a JSON object."""
        body = json.loads(payload)
        if not isinstance(body, dict):
            raise ValueError("a readings ack is a JSON object")  # noqa: TRY004 - JSON shape, not a type check

        def ids(key: str) -> list[str]:
            value = body.get(key)
            return [i for i in value if isinstance(i, str)] if isinstance(value, list) else []

        rejected_in = body.get("rejected")
        rejected = [
            RejectedId(r["reading_id"], str(r.get("reason", "")))
            for r in (rejected_in if isinstance(rejected_in, list) else [])
            if isinstance(r, dict) and isinstance(r.get("reading_id"), str)
        ]
        batch_id = body.get("batch_id")
        error = body.get("error")
        return cls(
            batch_id if isinstance(batch_id, str) else None,
            ids("accepted"),
            ids("duplicate"),
            rejected,
            error if isinstance(error, str) else None,
        )

    def settled_ids(self) -> list[str]:
        """Every reading id the hub may now delete from its outbox (accepted, duplicate, rejected)."""
        return [*self.accepted, *self.duplicate, *(r.reading_id for r in self.rejected)]


class ValidReadingsEnvelope(ReadingsEnvelope):
    """The same envelope with every reading already well-formed: the fast path validates a whole
    message in one call (JSON parsing included, inside pydantic-core); only a message that fails it
    is taken apart reading by reading."""

    readings: Annotated[list[ReadingIn], Field(min_length=1)]


# ---- the fast path: msgspec structs with the same constraints ------------------------------------
# msgspec matches patterns with Python's ``re.search``, where ``$`` also matches before a final
# newline; pydantic-core's ``$`` does not. ``\Z`` is pydantic's ``$``.


def _end_anchored(pattern: str) -> str:
    return pattern[:-1] + r"\Z"


class FastObservation(msgspec.Struct, frozen=True):
    code: Annotated[str, msgspec.Meta(max_length=64)]
    unit: Annotated[str, msgspec.Meta(max_length=16)]
    value: float | None = None
    special: Annotated[str, msgspec.Meta(max_length=16)] | None = None


class FastReading(msgspec.Struct, frozen=True):
    # device_serial, device_address and flags carry patterns too, checked by decode_fast against a
    # cache: they repeat from message to message, and msgspec runs Python's ``re`` for each one.
    reading_id: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    device_serial: str
    kind: Annotated[str, msgspec.Meta(max_length=32)]
    measured_at: Annotated[datetime, msgspec.Meta(tz=True)]
    measured_at_source: MeasuredAtSource
    received_at: Annotated[datetime, msgspec.Meta(tz=True)]
    observations: Annotated[list[FastObservation], msgspec.Meta(min_length=1, max_length=MAX_OBSERVATIONS_PER_READING)]
    device_address: str | None = None
    from_device_memory: bool = False
    flags: Annotated[list[str], msgspec.Meta(max_length=MAX_FLAGS_PER_READING)] = []
    user_index: Annotated[int, msgspec.Meta(ge=0, le=255)] | None = None
    battery_pct: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None


class FastReadingsEnvelope(msgspec.Struct, frozen=True):
    batch_id: Annotated[str, msgspec.Meta(pattern=_end_anchored(BATCH_ID_PATTERN))]
    readings: Annotated[list[FastReading], msgspec.Meta(min_length=1)]
    v: Annotated[int, msgspec.Meta(ge=1, le=1)] = 1
    session: Annotated[int, msgspec.Meta(ge=0)] | None = None
    seq: Annotated[int, msgspec.Meta(ge=0)] | None = None
    sent_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


_FAST_DECODER = msgspec.json.Decoder(FastReadingsEnvelope)
# msgspec rounds a time with more than six fractional digits to the nearest microsecond, pydantic
# truncates it; such a payload (never sent by a carehub hub) takes the pydantic path.
# The search starts at a literal ":" (``re`` scans for it quickly), so it costs about a seventh of
# the whole ``hh:mm:ss.fffffff`` pattern; a match is then checked for the "hh:" before it.
_SECONDS_WITH_SEVEN_DIGITS = re.compile(rb":[0-9]{2}[.,][0-9]{7}")  # :ss.fffffff
_DIGITS = frozenset(b"0123456789")


def has_sub_microsecond_time(payload: bytes) -> bool:
    """True when the payload holds a time of day ``hh:mm:ss`` with more than six fractional digits."""
    for match in _SECONDS_WITH_SEVEN_DIGITS.finditer(payload):
        start = match.start()
        if (
            start >= 5
            and payload[start - 3] == 0x3A
            and all(payload[i] in _DIGITS for i in (start - 5, start - 4, start - 2, start - 1))
        ):
            return True
    return False


class _PatternCache:
    """Whether a string matches a pattern (``re.search``, as msgspec applies ``Meta(pattern=…)``),
    remembered: a hub's serials, addresses and flags repeat in every message it sends."""

    __slots__ = ("_known", "_limit", "_search")

    def __init__(self, pattern: str, limit: int = 100_000) -> None:
        self._search = re.compile(pattern).search
        self._known: dict[str, bool] = {}
        self._limit = limit

    def __call__(self, text: str) -> bool:
        known = self._known.get(text)
        if known is None:
            if len(self._known) >= self._limit:
                self._known.clear()
            known = self._known[text] = self._search(text) is not None
        return known


_SERIAL_OK = _PatternCache(_end_anchored(SERIAL_PATTERN))
_ADDRESS_OK = _PatternCache(_end_anchored(BLE_ADDRESS_PATTERN))
_FLAG_OK = _PatternCache(_end_anchored(FLAG_PATTERN))


def decode_fast(payload: bytes) -> FastReadingsEnvelope | None:
    """A well-formed ``up/readings`` payload as structs, or None when the pydantic models must judge
    it (malformed, or outside what the fast path is known to read exactly as they do)."""
    if has_sub_microsecond_time(payload):
        return None
    try:
        envelope = _FAST_DECODER.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    serial_ok, address_ok, flag_ok = _SERIAL_OK, _ADDRESS_OK, _FLAG_OK
    for reading in envelope.readings:
        address = reading.device_address
        if not serial_ok(reading.device_serial) or (address is not None and not address_ok(address)):
            return None
        for flag in reading.flags:
            if not flag_ok(flag):
                return None
    return envelope

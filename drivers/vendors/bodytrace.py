"""BodyTrace cellular scales and blood-pressure cuffs: one JSON object per device transmission,
pushed by the BodyTrace cloud (reference/cellular-and-logistics.md §1.1; docs/wire-formats/vendors.md).

Traps handled here:
- ``deviceId`` is the IMEI without leading zeros and without its Luhn check digit; the IMEI is
  rebuilt (left-pad to 14 digits, append the Luhn digit) and, when ``imei`` is also sent, the two
  must agree.
- ``ts`` is milliseconds since the epoch, UTC.
- weight and tare are grams; tare is subtracted when |tare| > 100 g, as integrators do.
- systolic/diastolic are **pascals** per two independent code bases (one secondary source says
  mmHg). Until BodyTrace confirms: above 1000 is pascals (÷ 133.322, rounded to whole mmHg as the
  cuff displays), 30–300 is mmHg, anything else is quarantined as :class:`ImplausibleValue`.
- ``values: {}`` is a heartbeat, not a reading; ``rssi`` is a positive "−dBm".
- ``values.unit`` is only the display unit (1 = pounds); values are grams regardless."""

from __future__ import annotations

from typing import Any, Final

from core.domain import MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, Unit
from core.units import PASCAL_PER_MMHG
from drivers.errors import ImplausibleValue, MalformedValue
from drivers.normalised import observe
from drivers.vendors.payload import (
    MessageType,
    VendorPayload,
    VendorRecord,
    flag,
    integer,
    mapping,
    number,
    refuse_unknown,
    require,
    text,
    utc_from_epoch,
)

VENDOR: Final = "bodytrace"
BATTERY_RANGE_MV: Final = (4700, 6000)
"""``batteryVoltage``'s working range, empty to full (reference §3.2: "~4.7–6.0 V working range")."""
IMEI_BODY_DIGITS: Final = 14
TARE_SUBTRACT_ABOVE_G: Final = 100
PASCAL_THRESHOLD: Final = 1000
MMHG_RANGE: Final = (30, 300)
_VALUE_KEYS: Final = frozenset({"weight", "tare", "unit", "systolic", "diastolic", "pulse", "irregular"})


def luhn_digit(body: str) -> int:
    """The Luhn check digit for the digits in ``body`` (the IMEI's 15th digit)."""
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return (10 - total % 10) % 10


def imei_from_device_id(device_id: int) -> str:
    """``deviceId`` → 15-digit IMEI: 49015420323751 → "490154203237518"."""
    if device_id < 0 or device_id >= 10**IMEI_BODY_DIGITS:
        raise MalformedValue(f"deviceId {device_id} is not a 14-digit IMEI body")
    body = str(device_id).zfill(IMEI_BODY_DIGITS)
    return body + str(luhn_digit(body))


def mmhg_from_bodytrace(value: float, what: str) -> tuple[float, Unit]:
    """(mmHg, the unit the value was judged to be in) under the magnitude guard above."""
    if value > PASCAL_THRESHOLD:
        return float(round(value / PASCAL_PER_MMHG)), Unit.PA
    if MMHG_RANGE[0] <= value <= MMHG_RANGE[1]:
        return value, Unit.MMHG
    raise ImplausibleValue(f"{what} {value} is neither pascals (> {PASCAL_THRESHOLD}) nor mmHg (30–300)")


def _pressure(metric: Metric, raw: float, what: str) -> Observation:
    mmhg, unit = mmhg_from_bodytrace(raw, what)
    if unit is Unit.PA:
        return Observation(metric, mmhg, Unit.MMHG, source_value=raw, source_unit=Unit.PA)
    return observe(metric, mmhg, Unit.MMHG)


def decode(document: Any) -> VendorPayload:
    """One BodyTrace push body (already parsed JSON)."""
    envelope = mapping(document, "BodyTrace body")
    imei = imei_from_device_id(integer(require(envelope, "deviceId", "BodyTrace body"), "deviceId"))
    if envelope.get("imei") is not None and text(envelope["imei"], "imei") != imei:
        raise MalformedValue(f"imei {str(envelope['imei'])[:20]!r} does not match deviceId (IMEI {imei})")
    ts_ms = integer(require(envelope, "ts", "BodyTrace body"), "ts")
    measured_at = utc_from_epoch(ts_ms / 1000, "ts")
    rssi = envelope.get("rssi", envelope.get("signalStrength"))
    battery = envelope.get("batteryVoltage")
    values = mapping(require(envelope, "values", "BodyTrace body"), "values")
    refuse_unknown(values, _VALUE_KEYS, "BodyTrace values")
    common: dict[str, Any] = {
        "vendor": VENDOR,
        "device_id": imei,
        "measured_at": measured_at,
        "measured_at_source": MeasuredAtSource.VENDOR_CLOUD,
        "battery_mv": None if battery is None else integer(battery, "batteryVoltage"),
        "signal_dbm": None if rssi is None else -abs(integer(rssi, "rssi")),
    }
    observations: list[Observation] = []
    flags: set[ReadingFlag] = set()
    kind = None
    extras: list[tuple[str, Any]] = []
    if "weight" in values:
        kind = ReadingKind.WEIGHT
        grams = number(values["weight"], "weight")
        tare = number(values.get("tare", 0), "tare")
        if abs(tare) > TARE_SUBTRACT_ABOVE_G:
            grams -= tare
        observations.append(observe(Metric.MDC_MASS_BODY_ACTUAL, grams, Unit.G))
    if "systolic" in values or "diastolic" in values:
        if kind is not None:
            raise MalformedValue("BodyTrace values carry both a weight and a blood pressure")
        kind = ReadingKind.BLOOD_PRESSURE
        observations.append(
            _pressure(
                Metric.MDC_PRESS_BLD_NONINV_SYS, number(require(values, "systolic", "values"), "systolic"), "systolic"
            )
        )
        observations.append(
            _pressure(
                Metric.MDC_PRESS_BLD_NONINV_DIA,
                number(require(values, "diastolic", "values"), "diastolic"),
                "diastolic",
            )
        )
        if values.get("pulse") is not None:
            observations.append(observe(Metric.MDC_PULS_RATE_NON_INV, number(values["pulse"], "pulse"), Unit.PER_MIN))
        if values.get("irregular") is not None and flag(values["irregular"], "irregular"):
            flags.add(ReadingFlag.IRREGULAR_PULSE)
    elif "pulse" in values or "irregular" in values:
        raise MalformedValue("BodyTrace pulse without a blood pressure")
    if "unit" in values:
        extras.append(("display_unit", values["unit"]))
    if kind is None:
        if values:  # only "unit"/"tare": no measurement, but not the documented heartbeat either
            raise MalformedValue(f"BodyTrace values {sorted(values)} hold no measurement")
        record = VendorRecord(
            message=MessageType.HEARTBEAT, idempotency_key=f"{VENDOR}:{imei}:{ts_ms}:heartbeat", **common
        )
        return VendorPayload(VENDOR, (record,))
    record = VendorRecord(
        message=MessageType.READING,
        idempotency_key=f"{VENDOR}:{imei}:{ts_ms}:{kind.value}",
        kind=kind,
        observations=tuple(observations),
        flags=frozenset(flags),
        extras=tuple(extras),
        **common,
    )
    return VendorPayload(VENDOR, (record,))

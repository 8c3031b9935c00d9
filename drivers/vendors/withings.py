"""Withings measure groups, as ``getmeas`` returns them after a notification hint
(reference/cellular-and-logistics.md §1.6; docs/wire-formats/vendors.md).

Each measure's real value is ``value × 10^unit`` (applied to the decimal, exactly). ``attrib``
says who captured the group: 0 and 8 device, unambiguous; 5 a BPM "auto" best-of-series; 1 device
but possibly another user (flagged questionable); 2 and 4 **manual entries**, which are kept but
marked not device-captured so billing never counts them. Only the measure types the reference
names are decoded; any other type is refused, not dropped."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from core.domain import MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, Unit
from drivers.errors import MalformedValue, UnknownVendorField
from drivers.normalised import observe
from drivers.vendors.payload import (
    MessageType,
    VendorPayload,
    VendorRecord,
    integer,
    mapping,
    require,
    text,
    utc_from_epoch,
)

VENDOR: Final = "withings"
MANUAL_ATTRIBS: Final = frozenset({2, 4})
AMBIGUOUS_USER_ATTRIB: Final = 1
MEASURE_TYPES: Final = {
    1: (ReadingKind.WEIGHT, Metric.MDC_MASS_BODY_ACTUAL, Unit.KG),
    9: (ReadingKind.BLOOD_PRESSURE, Metric.MDC_PRESS_BLD_NONINV_DIA, Unit.MMHG),
    10: (ReadingKind.BLOOD_PRESSURE, Metric.MDC_PRESS_BLD_NONINV_SYS, Unit.MMHG),
    11: (ReadingKind.BLOOD_PRESSURE, Metric.MDC_PULS_RATE_NON_INV, Unit.PER_MIN),
    54: (ReadingKind.PULSE_OXIMETRY, Metric.MDC_PULS_OXIM_SAT_O2, Unit.PERCENT),
    71: (ReadingKind.TEMPERATURE, Metric.MDC_TEMP_BODY, Unit.CEL),
}
MEASURE_EXPONENT_LIMIT: Final = 30


def _value(measure: dict[str, Any]) -> float:
    value = integer(require(measure, "value", "Withings measure"), "value")
    exponent = integer(require(measure, "unit", "Withings measure"), "unit")
    if abs(exponent) > MEASURE_EXPONENT_LIMIT:
        raise MalformedValue(f"Withings measure exponent {exponent} is out of range")
    return float(Decimal(value).scaleb(exponent))


def _group(document: Any) -> VendorRecord:
    group = mapping(document, "Withings measure group")
    grpid = text(require(group, "grpid", "Withings measure group"), "grpid")
    attrib = integer(require(group, "attrib", "Withings measure group"), "attrib")
    measures = require(group, "measures", "Withings measure group")
    if not isinstance(measures, list) or not measures:
        raise MalformedValue("Withings measures must be a non-empty array")
    kinds: set[ReadingKind] = set()
    observations: list[Observation] = []
    typed = [(integer(require(mapping(m, "measure"), "type", "measure"), "type"), m) for m in measures]
    for measure_type, _measure in typed:
        if measure_type not in MEASURE_TYPES:
            raise UnknownVendorField(f"Withings measure type {measure_type} is not one carehub decodes")
        kinds.add(MEASURE_TYPES[measure_type][0])
    if ReadingKind.PULSE_OXIMETRY in kinds:
        kinds.discard(ReadingKind.BLOOD_PRESSURE)  # a pulse beside SpO2 is the oximeter's
    if len(kinds) != 1:
        raise MalformedValue(f"Withings group {grpid} mixes {sorted(kinds)}")
    kind = kinds.pop()
    for measure_type, measure in typed:
        _, metric, unit = MEASURE_TYPES[measure_type]
        if kind is ReadingKind.PULSE_OXIMETRY and metric is Metric.MDC_PULS_RATE_NON_INV:
            metric = Metric.MDC_PULS_OXIM_PULS_RATE
        observations.append(observe(metric, _value(measure), unit))
    manual = attrib in MANUAL_ATTRIBS
    flags = {ReadingFlag.MANUAL_ENTRY} if manual else set()
    if attrib == AMBIGUOUS_USER_ATTRIB:
        flags.add(ReadingFlag.QUESTIONABLE)
    created = group.get("created")
    return VendorRecord(
        vendor=VENDOR,
        message=MessageType.READING,
        device_id=text(group.get("deviceid") or "", "deviceid"),
        idempotency_key=f"{VENDOR}:{grpid}",
        kind=kind,
        observations=tuple(observations),
        measured_at=utc_from_epoch(integer(require(group, "date", "Withings measure group"), "date"), "date"),
        measured_at_source=MeasuredAtSource.VENDOR_CLOUD,
        flags=frozenset(flags),
        device_captured=not manual,
        vendor_received_at=None if created is None else utc_from_epoch(integer(created, "created"), "created"),
    )


def decode(document: Any) -> VendorPayload:
    """One measure group, a list of them, or a ``{"measuregrps": [...]}`` object, already parsed."""
    if isinstance(document, dict) and "measuregrps" in document:
        document = document["measuregrps"]
    groups = document if isinstance(document, list) else [document]
    if not groups:
        raise MalformedValue("no Withings measure groups")
    return VendorPayload(VENDOR, tuple(_group(g) for g in groups))

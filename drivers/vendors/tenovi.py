"""Tenovi measurement webhooks: one JSON object per metric, or (post-as-array) one array of
coincident metrics such as blood pressure + pulse (reference/cellular-and-logistics.md §1.2;
docs/wire-formats/vendors.md).

Elements are grouped into one record per ``(hwi_device_id, timestamp, measurement_index)``, the
dedupe key of §1.9. ``value_1``/``value_2`` may be strings. Weight arrives in pounds and temperature
in °F (per integrators); both are converted through :mod:`core.units` with the original kept.
``estimated_timestamp`` marks a time Tenovi estimated. ``battery_percentage`` alone is a status
message, not a reading, and does not count toward days with data. ``hardware_uuid`` is the
gateway, which changes when a gateway is replaced; it is never the device id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from core.domain import MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, Unit
from drivers.errors import MalformedValue, UnknownVendorField
from drivers.normalised import observe
from drivers.vendors.payload import (
    MessageType,
    VendorPayload,
    VendorRecord,
    flag,
    integer,
    mapping,
    number,
    require,
    text,
    utc_from_iso,
)

VENDOR: Final = "tenovi"
PULSE_OXIMETER_SENSOR_CODE: Final = "11"
GLUCOSE_ABOVE_RANGE_ALERT: Final = "sensor_result_above_range"


@dataclass
class _Group:
    """The coincident metrics of one measurement, collected element by element."""

    kind: ReadingKind | None = None
    observations: list[Observation] = field(default_factory=list)
    flags: set[ReadingFlag] = field(default_factory=set)
    extras: list[tuple[str, Any]] = field(default_factory=list)
    battery_pct: int | None = None
    metrics: list[str] = field(default_factory=list)

    def reading(self, kind: ReadingKind, *observations: Observation) -> None:
        if self.kind not in (None, kind):
            raise MalformedValue(f"Tenovi metrics of one measurement mix {self.kind} and {kind}")
        self.kind = kind
        self.observations.extend(observations)


def _value(element: Mapping[str, Any], key: str) -> float:
    return number(require(element, key, "Tenovi measurement"), key)


def _blood_pressure(group: _Group, element: Mapping[str, Any]) -> None:
    group.reading(
        ReadingKind.BLOOD_PRESSURE,
        observe(Metric.MDC_PRESS_BLD_NONINV_SYS, _value(element, "value_1"), Unit.MMHG),
        observe(Metric.MDC_PRESS_BLD_NONINV_DIA, _value(element, "value_2"), Unit.MMHG),
    )


def _pulse(group: _Group, element: Mapping[str, Any]) -> None:
    if str(element.get("sensor_code")) == PULSE_OXIMETER_SENSOR_CODE:
        group.reading(
            ReadingKind.PULSE_OXIMETRY,
            observe(Metric.MDC_PULS_OXIM_PULS_RATE, _value(element, "value_1"), Unit.PER_MIN),
        )
    else:
        group.reading(
            ReadingKind.BLOOD_PRESSURE, observe(Metric.MDC_PULS_RATE_NON_INV, _value(element, "value_1"), Unit.PER_MIN)
        )


def _irregular(group: _Group, element: Mapping[str, Any]) -> None:
    # Sent (as 1) only when detected.
    group.reading(ReadingKind.BLOOD_PRESSURE)
    if _value(element, "value_1"):
        group.flags.add(ReadingFlag.IRREGULAR_PULSE)


def _battery(group: _Group, element: Mapping[str, Any]) -> None:
    group.battery_pct = integer(require(element, "value_1", "Tenovi measurement"), "value_1")


def _spo2(group: _Group, element: Mapping[str, Any]) -> None:
    group.reading(
        ReadingKind.PULSE_OXIMETRY, observe(Metric.MDC_PULS_OXIM_SAT_O2, _value(element, "value_1"), Unit.PERCENT)
    )
    if element.get("value_2") is not None:
        group.extras.append(("spo2_std_dev", number(element["value_2"], "value_2")))


def _perfusion(group: _Group, element: Mapping[str, Any]) -> None:
    group.reading(ReadingKind.PULSE_OXIMETRY)
    group.extras.append(("perfusion_index", _value(element, "value_1")))


def _glucose(group: _Group, element: Mapping[str, Any]) -> None:
    # The meter reports no sample type: stored as "sample type undetermined".
    group.reading(
        ReadingKind.GLUCOSE,
        observe(Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA, _value(element, "value_1"), Unit.MG_PER_DL),
    )
    params = mapping(element.get("filter_params") or {}, "filter_params")
    if params.get("alert") == GLUCOSE_ABOVE_RANGE_ALERT:
        group.flags.add(ReadingFlag.RESULT_ABOVE_RANGE)
    for key in ("meal_context", "measurement_location"):
        if params.get(key) is not None:
            group.extras.append((key, text(params[key], key)))


def _weight(group: _Group, element: Mapping[str, Any]) -> None:
    group.reading(ReadingKind.WEIGHT, observe(Metric.MDC_MASS_BODY_ACTUAL, _value(element, "value_1"), Unit.LB))


def _temperature(group: _Group, element: Mapping[str, Any]) -> None:
    group.reading(ReadingKind.TEMPERATURE, observe(Metric.MDC_TEMP_BODY, _value(element, "value_1"), Unit.DEG_F))


METRIC_DECODERS: Final[Mapping[str, Callable[[_Group, Mapping[str, Any]], None]]] = {
    "blood_pressure": _blood_pressure,
    "pulse": _pulse,
    "irregular_heartbeat": _irregular,
    "battery_percentage": _battery,
    "spO2": _spo2,
    "perfusion_index": _perfusion,
    "glucose": _glucose,
    "weight": _weight,
    "temperature": _temperature,
}
"""Tenovi ``metric`` → how it lands. Any other metric (peak flow, pillbox, watch) is refused."""


def decode(document: Any) -> VendorPayload:
    """One Tenovi measurement webhook body (object or array), already parsed."""
    elements = document if isinstance(document, list) else [document]
    if not elements:
        raise MalformedValue("Tenovi body is an empty array")
    groups: dict[tuple[str, str, str], tuple[_Group, Mapping[str, Any]]] = {}
    for raw in elements:
        element = mapping(raw, "Tenovi measurement")
        metric = text(require(element, "metric", "Tenovi measurement"), "metric")
        decoder = METRIC_DECODERS.get(metric)
        if decoder is None:
            raise UnknownVendorField(f"Tenovi metric {metric[:40]!r} is not one carehub stores")
        device = text(require(element, "hwi_device_id", "Tenovi measurement"), "hwi_device_id")
        timestamp = text(require(element, "timestamp", "Tenovi measurement"), "timestamp")
        params = mapping(element.get("filter_params") or {}, "filter_params")
        index = str(params.get("measurement_index", ""))
        group, _ = groups.setdefault((device, timestamp, index), (_Group(), element))
        group.metrics.append(metric)
        decoder(group, element)
    return VendorPayload(VENDOR, tuple(_record(key, group, first) for key, (group, first) in groups.items()))


def _record(key: tuple[str, str, str], group: _Group, element: Mapping[str, Any]) -> VendorRecord:
    device, timestamp, index = key
    estimated = element.get("estimated_timestamp")
    offset = element.get("timezone_offset")
    created = element.get("created")
    is_reading = bool(group.observations)
    return VendorRecord(
        vendor=VENDOR,
        message=MessageType.READING if is_reading else MessageType.STATUS,
        device_id=device,
        idempotency_key=f"{VENDOR}:{device}:{'+'.join(sorted(group.metrics))}:{timestamp}:{index}",
        kind=group.kind if is_reading else None,
        observations=tuple(group.observations),
        measured_at=utc_from_iso(timestamp, "timestamp"),
        measured_at_source=(
            MeasuredAtSource.VENDOR_ESTIMATED
            if estimated is not None and flag(estimated, "estimated_timestamp")
            else MeasuredAtSource.VENDOR_CLOUD
        ),
        flags=frozenset(group.flags),
        # Unit not stated by Tenovi; minutes per the reference's reading of -300 (§1.2, §5).
        tz_offset_min=None if offset is None else integer(offset, "timezone_offset"),
        vendor_received_at=None if created is None else utc_from_iso(created, "created"),
        battery_pct=group.battery_pct,
        extras=tuple(group.extras),
    )

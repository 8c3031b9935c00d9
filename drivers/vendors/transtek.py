"""Transtek / MioConnect "fully managed forwarding": MioConnect POSTs ``/forwardtelemetry`` and
``/forwardstatus`` with ``{deviceId, modelNumber, createdAt, isTest, data | status}``
(reference/cellular-and-logistics.md §1.4; docs/wire-formats/vendors.md).

``createdAt`` and ``data.ts`` are Unix **seconds**; ``createdAt`` is when MioConnect received the
data, ``data.ts`` the measurement. ``isTest: true`` is test traffic (decoded, never a reading).
Scale keys ``wt, bmi, fat, bm, mus, ts`` come from the vendor's sample: ``wt`` is grams (inferred from
the mock's 40000–100000), and 0 means "not measured" for the others, whose units are not documented,
so they are kept as sent rather than stored. Glucometer "Gen2" ``data_type`` order/status/error/log
messages are status; the value keys of ``bgm_gen2_measure`` are not public, so such a message is
refused as an unknown field until the vendor documents them. BP key names were not found either."""

from __future__ import annotations

from typing import Any, Final

from core.domain import MeasuredAtSource, Metric, ReadingKind, Unit
from drivers.errors import UnknownVendorField
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

VENDOR: Final = "transtek"
_SCALE_KEYS: Final = frozenset({"wt", "bmi", "fat", "bm", "mus", "ts"})
_SCALE_EXTRAS: Final = ("bmi", "fat", "bm", "mus")
BGM_MEASURE: Final = "bgm_gen2_measure"
BGM_STATUS_TYPES: Final = frozenset({"bgm_gen2_order", "bgm_gen2_status", "bgm_gen2_error", "bgm_gen2_log"})


def decode(document: Any) -> VendorPayload:
    """One MioConnect forwarded body, already parsed."""
    envelope = mapping(document, "MioConnect body")
    device = text(require(envelope, "deviceId", "MioConnect body"), "deviceId")
    created = envelope.get("createdAt")
    received = None if created is None else utc_from_epoch(integer(created, "createdAt"), "createdAt")
    is_test = envelope.get("isTest") is not None and flag(envelope["isTest"], "isTest")
    if "data" not in envelope:
        mapping(require(envelope, "status", "MioConnect body"), "status")
        status = VendorRecord(
            vendor=VENDOR,
            message=MessageType.TEST if is_test else MessageType.STATUS,
            device_id=device,
            idempotency_key=f"{VENDOR}:{device}:{created}:status",
            vendor_received_at=received,
        )
        return VendorPayload(VENDOR, (status,))
    data = mapping(envelope["data"], "data")
    data_type = data.get("data_type")
    if data_type is not None:
        data_type = text(data_type, "data_type")
        if data_type == BGM_MEASURE or data_type not in BGM_STATUS_TYPES:
            raise UnknownVendorField(f"MioConnect data_type {data_type[:40]!r}: value keys not documented")
        status = VendorRecord(
            vendor=VENDOR,
            message=MessageType.TEST if is_test else MessageType.STATUS,
            device_id=device,
            idempotency_key=f"{VENDOR}:{device}:{data.get('ts')}:{data_type}",
            vendor_received_at=received,
        )
        return VendorPayload(VENDOR, (status,))
    refuse_unknown(data, _SCALE_KEYS, "MioConnect data")
    ts = integer(require(data, "ts", "MioConnect data"), "ts")
    grams = number(require(data, "wt", "MioConnect data"), "wt")
    extras = tuple((key, data[key]) for key in _SCALE_EXTRAS if data.get(key) not in (None, 0))
    for key, value in extras:
        number(value, key)
    record = VendorRecord(
        vendor=VENDOR,
        message=MessageType.TEST if is_test else MessageType.READING,
        device_id=device,
        idempotency_key=f"{VENDOR}:{device}:{ts}:weight",
        kind=ReadingKind.WEIGHT,
        observations=(observe(Metric.MDC_MASS_BODY_ACTUAL, grams, Unit.G),),
        measured_at=utc_from_epoch(ts, "ts"),
        measured_at_source=MeasuredAtSource.VENDOR_CLOUD,
        vendor_received_at=received,
        extras=extras,
    )
    return VendorPayload(VENDOR, (record,))

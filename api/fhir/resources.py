"""Pure mapping from stored rows to FHIR R4 resources (plain JSON-ready dicts), following the HL7
Personal Health Device IG 1.1.0 (``reference/rpm-ccm-rules.md`` §D.3, §D.4):

- a blood-pressure reading is ONE ``PhdCompoundNumericObservation`` (MDC 150020 + LOINC 85354-9) with
  systolic, diastolic and mean components; the pulse from the same cuff is its own Observation;
- every other metric is a ``PhdNumericObservation`` with MDC + LOINC codes and a UCUM quantity;
- ``Observation.device`` is the sensor (``PhdDevice``), the hub is the gateway (``PhgDevice``) named by
  the ``observation-gatewayDevice`` extension, never by ``Observation.device``;
- special values and invalid measurements carry a data-absent reason instead of a value;
  measurement-status flags become ``interpretation`` codes, other device status flags become BITs-style
  components (code + value ``Y``), test data is labelled ``HTEST``.

Resources are built as dicts, not with ``fhir.resources`` models: the export runs per request over
thousands of readings and needs no model validation at run time; the tests validate every shape
against the R4 models instead."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any, Final
from uuid import UUID

from api.fhir import vocabulary as v

Json = dict[str, Any]

_HUB_ID = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
_GATEWAY_PREFIX: Final = "hub-"
_MAX_FHIR_ID: Final = 64


@dataclass(frozen=True, slots=True)
class PatientRow:
    id: UUID
    practice_id: UUID
    mrn: str
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    mbi: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: UUID
    serial: str
    kind: str
    ble_address: str | None
    imei: str | None
    manufacturer: str | None
    model: str | None
    firmware: str | None
    blocked_at: datetime | None
    patient_id: UUID | None
    """The patient the device is assigned to now, if any."""


@dataclass(frozen=True, slots=True)
class GatewayRow:
    id: str
    serial: str


@dataclass(frozen=True, slots=True)
class ObservationRow:
    """One stored observation (a ``readings`` row) as the export needs it."""

    reading_id: UUID
    patient_id: UUID
    device_id: UUID
    hub_id: str | None
    metric: int
    value: float | None
    special: str | None
    unit: str
    measured_at: datetime
    flags: list[str] | None


# -- ids -------------------------------------------------------------------------------------------


def gateway_fhir_id(hub_id: str) -> str:
    """The FHIR id of a hub's gateway Device: ``hub-`` and the hub id with ``_`` written as ``.`` (a
    FHIR id allows ``[A-Za-z0-9.-]``; hub ids never contain ``.``, so the mapping is reversible)."""
    return _GATEWAY_PREFIX + hub_id.replace("_", ".")


def hub_id_of(fhir_id: str) -> str | None:
    """The hub id behind a gateway Device id, or None if ``fhir_id`` does not name a gateway."""
    if not fhir_id.startswith(_GATEWAY_PREFIX):
        return None
    hub_id = fhir_id[len(_GATEWAY_PREFIX) :].replace(".", "_")
    return hub_id if _HUB_ID.match(hub_id) else None


def gateway_representable(hub_id: str) -> bool:
    """Hub ids of up to 60 characters fit a FHIR id (64) after the prefix."""
    return len(gateway_fhir_id(hub_id)) <= _MAX_FHIR_ID


def observation_group(metric: int) -> int:
    """The Observation a stored metric belongs to: the BP panel for its components, else itself."""
    return v.MDC_PRESS_BLD_NONINV if metric in v.BP_COMPONENT_CODES else metric


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_OBSERVATION_ID = re.compile(r"^(?P<device>[0-9a-f]{32})\.(?P<us>-?\d{1,19})\.(?P<group>\d{1,10})$")


@dataclass(frozen=True, slots=True, order=True)
class ObservationKey:
    """What identifies one exported Observation: the device, the instant and the observation group.
    The database refuses a second row for the same device, metric and instant, so the key is unique
    and stable across resends (PHD IG §D.6: device, type and the device's time stamp). It is also the
    export's sort order and the paging cursor."""

    measured_at: datetime
    device_id: UUID
    group: int

    def fhir_id(self) -> str:
        delta = self.measured_at - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return f"{self.device_id.hex}.{micros}.{self.group}"

    @classmethod
    def parse(cls, text: str) -> ObservationKey | None:
        match = _OBSERVATION_ID.match(text)
        if match is None:
            return None
        try:
            at = _EPOCH + timedelta(microseconds=int(match["us"]))
        except OverflowError:
            return None
        return cls(at, UUID(hex=match["device"]), int(match["group"]))


def observation_key(row: ObservationRow) -> ObservationKey:
    return ObservationKey(row.measured_at, row.device_id, observation_group(row.metric))


# -- shared pieces ---------------------------------------------------------------------------------


def coding(system: str, code: str | int, display: str | None = None) -> Json:
    out: Json = {"system": system, "code": str(code)}
    if display:
        out["display"] = display
    return out


def concept(*codings: Json, text: str | None = None) -> Json:
    out: Json = {"coding": list(codings)}
    if text:
        out["text"] = text
    return out


def reference(resource_type: str, fhir_id: str | UUID) -> Json:
    return {"reference": f"{resource_type}/{fhir_id}"}


def instant(at: datetime) -> str:
    """RFC 3339 with the offset (PHD IG: sub-day times always carry one)."""
    return at.isoformat()


# -- Patient ---------------------------------------------------------------------------------------


def patient_resource(row: PatientRow) -> Json:
    mrn = {
        "use": "usual",
        "type": concept(coding(v.V2_IDENTIFIER_TYPE, "MR", "Medical record number")),
        # MRNs are unique per practice: the practice is the identifier's namespace.
        "system": f"urn:uuid:{row.practice_id}",
        "value": row.mrn,
    }
    identifiers = [mrn]
    if row.mbi:
        identifiers.append(
            {
                "type": concept(coding(v.V2_IDENTIFIER_TYPE, "MC", "Patient's Medicare number")),
                "system": v.US_MBI,
                "value": row.mbi,
            }
        )
    out: Json = {"resourceType": "Patient", "id": str(row.id), "identifier": identifiers}
    name: Json = {}
    if row.family_name:
        name["family"] = row.family_name
    if row.given_name:
        name["given"] = [row.given_name]
    if name:
        out["name"] = [{"use": "official", **name}]
    if row.birth_date:
        out["birthDate"] = row.birth_date.isoformat()
    address: Json = {}
    lines = [line for line in (row.address_line1, row.address_line2) if line]
    if lines:
        address["line"] = lines
    for key, value in (("city", row.city), ("state", row.state), ("postalCode", row.postal_code)):
        if value:
            address[key] = value
    if address:
        out["address"] = [{"use": "home", **address, "country": "US"}]
    return out


# -- Device ----------------------------------------------------------------------------------------


def _bluetooth_eui48(address: str) -> str:
    """PHD IG writes transport addresses as dash-separated upper-case octets."""
    return address.upper().replace(":", "-")


def device_resource(row: DeviceRow) -> Json:
    identifiers: list[Json] = []
    if row.ble_address:
        identifiers.append(
            {
                "type": concept(coding(v.CONTINUA_DEVICE_IDENTIFIERS, "BTMAC", "Bluetooth MAC address")),
                "system": v.BLUETOOTH_MAC,
                "value": _bluetooth_eui48(row.ble_address),
            }
        )
    if row.imei:
        identifiers.append({"system": v.URI_VALUE, "value": f"urn:gsma:imei:{row.imei}"})
    out: Json = {
        "resourceType": "Device",
        "id": str(row.id),
        "meta": {"profile": [v.PROFILE_DEVICE]},
        "status": "inactive" if row.blocked_at else "active",
        "serialNumber": row.serial,
        "type": concept(coding(v.MDC, v.MDC_MOC_VMS_MDS_SIMP, "MDC_MOC_VMS_MDS_SIMP")),
    }
    if identifiers:
        out["identifier"] = identifiers
    if row.manufacturer:
        out["manufacturer"] = row.manufacturer
    if row.model:
        out["modelNumber"] = row.model
    specialization = v.DEVICE_SPECIALIZATION.get(row.kind)
    if specialization:
        code, display = specialization
        out["specialization"] = [{"systemType": concept(coding(v.MDC, code, display))}]
    if row.firmware:
        out["version"] = [
            {"type": concept(coding(v.MDC, v.MDC_ID_PROD_SPEC_FW, "MDC_ID_PROD_SPEC_FW")), "value": row.firmware}
        ]
    if row.patient_id:
        out["patient"] = reference("Patient", row.patient_id)
    return out


def gateway_resource(row: GatewayRow) -> Json:
    return {
        "resourceType": "Device",
        "id": gateway_fhir_id(row.id),
        "meta": {"profile": [v.PROFILE_GATEWAY]},
        "status": "active",
        "serialNumber": row.serial,
        "deviceName": [{"name": row.id, "type": "user-friendly-name"}],
        "type": concept(coding(v.MDC, v.MDC_MOC_VMS_MDS_AHD, "MDC_MOC_VMS_MDS_AHD")),
        "specialization": [
            {"systemType": concept(coding(v.MDC, v.MDC_DEV_SPEC_PROFILE_GENERIC, "MDC_DEV_SPEC_PROFILE_GENERIC"))}
        ],
    }


# -- Observation -----------------------------------------------------------------------------------


# The code and category elements repeat on every Observation: built once per metric and shared between
# resources (nothing mutates a built resource; they are only serialized).
@cache
def _metric_code(metric: int) -> Json:
    metric_coding = v.METRIC_CODINGS[metric]
    return concept(
        coding(v.MDC, metric, metric_coding.mdc_display),
        *(coding(v.LOINC, code, display) for code, display in metric_coding.loinc),
    )


def _absent(code: str, display: str) -> Json:
    return concept(coding(v.DATA_ABSENT_REASON, code, display))


def _value(row: ObservationRow, flags: frozenset[str]) -> Json:
    """``valueQuantity`` or ``dataAbsentReason`` (the element names are the same in a component)."""
    if row.special is not None:
        return {"dataAbsentReason": _absent(*v.DATA_ABSENT[row.special])}
    invalid = [v.INVALID_FLAGS[f] for f in sorted(flags) if f in v.INVALID_FLAGS]
    if invalid or row.value is None:
        return {"dataAbsentReason": _absent(*(invalid[0] if invalid else ("unknown", "Unknown")))}
    return {
        "valueQuantity": {
            "value": row.value,
            "unit": v.UNIT_DISPLAY.get(row.unit, row.unit),
            "system": v.UCUM,
            "code": row.unit,
        }
    }


@cache
def _categories(metrics: frozenset[int]) -> list[Json]:
    codings = [v.METRIC_CODINGS[m] for m in metrics]
    out = []
    if all(c.vital_sign for c in codings):
        out.append(concept(coding(*v.Category.VITAL_SIGNS)))
    if any(c.laboratory for c in codings):
        out.append(concept(coding(*v.Category.LABORATORY)))
    out.append(concept(coding(*v.Category.PHD)))
    return out


def _status_parts(flags: frozenset[str]) -> Json:
    out: Json = {}
    interpretation = [v.MEASUREMENT_STATUS_CODES[f] for f in sorted(flags) if f in v.MEASUREMENT_STATUS_CODES]
    if interpretation:
        out["interpretation"] = [concept(coding(v.MEASUREMENT_STATUS, c, d)) for c, d in interpretation]
    return out


def _flag_components(flags: frozenset[str]) -> list[Json]:
    """Device and sensor status bits as PHD BITs-style components: one per set bit, value Y."""
    reported = sorted(
        f for f in flags if f not in v.MEASUREMENT_STATUS_CODES and f not in v.INVALID_FLAGS and f not in v.TEST_FLAGS
    )
    return [
        {
            "code": concept(coding(v.CAREHUB_READING_FLAG, flag, flag.replace("_", " "))),
            "valueCodeableConcept": concept(coding(v.V2_YES_NO, "Y", "Yes")),
        }
        for flag in reported
    ]


def _observation(rows: Sequence[ObservationRow], group: int) -> Json:
    first = rows[0]
    flags = frozenset(f for row in rows for f in (row.flags or ()))
    compound = group == v.MDC_PRESS_BLD_NONINV
    meta: Json = {"profile": [v.PROFILE_COMPOUND if compound else v.PROFILE_NUMERIC]}
    if flags & v.TEST_FLAGS:
        meta["security"] = [coding(v.ACT_REASON, "HTEST", "test health data")]
    out: Json = {
        "resourceType": "Observation",
        "id": observation_key(first).fhir_id(),
        "meta": meta,
    }
    if first.hub_id and gateway_representable(first.hub_id):
        out["extension"] = [
            {"url": v.GATEWAY_EXTENSION, "valueReference": reference("Device", gateway_fhir_id(first.hub_id))}
        ]
    out["status"] = "preliminary" if flags & v.PRELIMINARY_FLAGS else "final"
    out["category"] = _categories(frozenset(row.metric for row in rows))
    if compound:
        out["code"] = _BP_PANEL_CODE
    else:
        out["code"] = _metric_code(first.metric)
    out["subject"] = reference("Patient", first.patient_id)
    out["effectiveDateTime"] = instant(first.measured_at)
    if not compound:
        out.update(_value(first, flags))
    out.update(_status_parts(flags))
    out["device"] = reference("Device", first.device_id)
    components = [{"code": _metric_code(row.metric), **_value(row, flags)} for row in rows] if compound else []
    components += _flag_components(flags)
    if components:
        out["component"] = components
    return out


_BP_PANEL_CODE: Final = concept(
    coding(v.MDC, v.MDC_PRESS_BLD_NONINV, "MDC_PRESS_BLD_NONINV"),
    coding(v.LOINC, v.LOINC_BP_PANEL, "Blood pressure panel with all children optional"),
)
_BP_ORDER: Final[Mapping[int, int]] = {
    code: i for i, code in enumerate(sorted(v.BP_COMPONENT_CODES))
}  # 150021 systolic, 150022 diastolic, 150023 mean


def observations(rows: Iterable[ObservationRow]) -> list[Json]:
    """The Observations of stored rows, in the order their first row appears: one per
    :class:`ObservationKey`, so a BP reading yields its panel and, separately, its pulse.
    Metrics carehub does not know are skipped (the readings table only ever holds known ones)."""
    groups: dict[ObservationKey, list[ObservationRow]] = {}
    for row in rows:
        if row.metric in v.METRIC_CODINGS:
            groups.setdefault(observation_key(row), []).append(row)
    out = []
    for key, members in groups.items():
        members.sort(key=lambda r: _BP_ORDER.get(r.metric, 0))
        out.append(_observation(members, key.group))
    return out


# -- Bundle and OperationOutcome ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    resource: Json
    mode: str  # "match" or "include"


def searchset(base_url: str, self_url: str, next_url: str | None, entries: Sequence[Entry]) -> Json:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base_url}/{e.resource['resourceType']}/{e.resource['id']}",
                "resource": e.resource,
                "search": {"mode": e.mode},
            }
            for e in entries
        ],
    }


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> Json:
    """An OperationOutcome with one issue (``code`` from the R4 issue-type value set)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }

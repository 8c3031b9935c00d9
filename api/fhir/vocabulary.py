"""Code systems and code tables of the FHIR export: MDC (IEEE 11073-10101) and LOINC codes per metric,
UCUM units, observation categories, the PHD IG profiles, device types and how carehub's reading flags
map onto PHD measurement-status semantics (``reference/rpm-ccm-rules.md`` §D.1-§D.5).

Metric codes, canonical units and the primary LOINC code come from :data:`core.domain.METRICS`; this
module only adds what FHIR needs beyond them (panel codes, displays, categories, second LOINC codes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from core.domain import METRICS, DeviceKind, Metric, ReadingFlag, SpecialValue, Unit

MDC: Final = "urn:iso:std:iso:11073:10101"
LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
PHD_CATEGORY: Final = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
DATA_ABSENT_REASON: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# PHD IG 1.1.0 binds Observation.interpretation to this measurement-status code system.
MEASUREMENT_STATUS: Final = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
V2_YES_NO: Final = "http://terminology.hl7.org/CodeSystem/v2-0136"
V2_IDENTIFIER_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACT_REASON: Final = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CONTINUA_DEVICE_IDENTIFIERS: Final = "http://hl7.org/fhir/uv/phd/CodeSystem/ContinuaDeviceIdentifiers"
BLUETOOTH_MAC: Final = "http://hl7.org/fhir/sid/eui-48/bluetooth"
US_MBI: Final = "http://hl7.org/fhir/sid/us-mbi"
URI_VALUE: Final = "urn:ietf:rfc:3986"
GATEWAY_EXTENSION: Final = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
# Device and sensor status bits that have no PHD measurement-status code: carehub's own code system,
# one code per core.domain.ReadingFlag value, reported as PHD BITs-style components (value Y).
CAREHUB_READING_FLAG: Final = "https://carehub.dev/fhir/CodeSystem/reading-flag"

_PHD: Final = "http://hl7.org/fhir/uv/phd/StructureDefinition/"
PROFILE_NUMERIC: Final = _PHD + "PhdNumericObservation"
PROFILE_COMPOUND: Final = _PHD + "PhdCompoundNumericObservation"
PROFILE_DEVICE: Final = _PHD + "PhdDevice"
PROFILE_GATEWAY: Final = _PHD + "PhgDevice"

MDC_PRESS_BLD_NONINV: Final = 150020
LOINC_BP_PANEL: Final = "85354-9"
MDC_MOC_VMS_MDS_SIMP: Final = 65573
MDC_MOC_VMS_MDS_AHD: Final = 531981
MDC_DEV_SPEC_PROFILE_GENERIC: Final = 528457
MDC_ID_PROD_SPEC_FW: Final = 531976

BP_COMPONENTS: Final = (
    Metric.MDC_PRESS_BLD_NONINV_SYS,
    Metric.MDC_PRESS_BLD_NONINV_DIA,
    Metric.MDC_PRESS_BLD_NONINV_MEAN,
)
"""Metrics exported as components of one BP panel Observation, in this order (PHD IG §D.3); the
pulse from the same cuff is its own Observation."""
BP_COMPONENT_CODES: Final = frozenset(METRICS[m].code for m in BP_COMPONENTS)


class Category:
    VITAL_SIGNS = (OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")
    LABORATORY = (OBSERVATION_CATEGORY, "laboratory", "Laboratory")
    PHD = (PHD_CATEGORY, "phd", "PHD generated")


@dataclass(frozen=True, slots=True)
class MetricCoding:
    """How one metric is coded in FHIR: its MDC reference id, LOINC codes (first is primary) with
    displays, and its categories besides ``phd``."""

    mdc_display: str
    loinc: tuple[tuple[str, str], ...]
    vital_sign: bool
    laboratory: bool = False


_LOINC_DISPLAY: Final[Mapping[str, str]] = {
    "8480-6": "Systolic blood pressure",
    "8462-4": "Diastolic blood pressure",
    "8478-0": "Mean blood pressure",
    "8867-4": "Heart rate",
    "59408-5": "Oxygen saturation in Arterial blood by Pulse oximetry",
    "2708-6": "Oxygen saturation in Arterial blood",
    "29463-7": "Body weight",
    "8302-2": "Body height",
    "41982-0": "Percentage of body fat Measured",
    "39156-5": "Body mass index (BMI) [Ratio]",
    "41653-7": "Glucose [Mass/volume] in Capillary blood by Glucometer",
    "2339-0": "Glucose [Mass/volume] in Blood",
    "8310-5": "Body temperature",
    LOINC_BP_PANEL: "Blood pressure panel with all children optional",
}

# The pulse-oximetry vital-signs profile carries both 59408-5 and 2708-6 (§D.1).
_EXTRA_LOINC: Final[Mapping[Metric, tuple[str, ...]]] = {Metric.MDC_PULS_OXIM_SAT_O2: ("2708-6",)}
# Body fat is not one of the FHIR vital signs; glucose is a laboratory result (§D.1: not a vital sign).
_NOT_VITAL: Final = frozenset({Metric.MDC_BODY_FAT})
_GLUCOSE: Final = frozenset(
    {
        Metric.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD,
        Metric.MDC_CONC_GLU_CAPILLARY_PLASMA,
        Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA,
    }
)


def _coding(metric: Metric) -> MetricCoding:
    spec = METRICS[metric]
    codes = (spec.loinc, *_EXTRA_LOINC.get(metric, ()))
    return MetricCoding(
        mdc_display=metric.value,
        loinc=tuple((code, _LOINC_DISPLAY[code]) for code in codes),
        vital_sign=metric not in _NOT_VITAL and metric not in _GLUCOSE,
        laboratory=metric in _GLUCOSE,
    )


METRIC_CODINGS: Final[Mapping[int, MetricCoding]] = {METRICS[m].code: _coding(m) for m in Metric}
"""Every metric core knows, by MDC code."""

UNIT_DISPLAY: Final[Mapping[str, str]] = {Unit.MMHG: "mmHg", Unit.PER_MIN: "beats/minute", Unit.CEL: "Cel"}
"""Human-readable ``Quantity.unit`` where it differs from the UCUM code."""

DATA_ABSENT: Final[Mapping[str, tuple[str, str]]] = {
    SpecialValue.NAN: ("NaN", "Not a Number (NaN)"),
    SpecialValue.NRES: ("error", "Error"),
    SpecialValue.POSITIVE_INFINITY: ("PINF", "Positive Infinity (PINF)"),
    SpecialValue.NEGATIVE_INFINITY: ("NINF", "Negative Infinity (NINF)"),
}
"""IEEE 11073-20601 special values as data-absent reasons (PHD IG: no value, a reason instead)."""

MEASUREMENT_STATUS_CODES: Final[Mapping[str, tuple[str, str]]] = {
    ReadingFlag.QUESTIONABLE: ("questionable", "Questionable"),
    ReadingFlag.CALIBRATION_ONGOING: ("calibration-ongoing", "Calibration ongoing"),
    ReadingFlag.VALIDATED_DATA: ("validated-data", "Validated data"),
    ReadingFlag.EARLY_ESTIMATE: ("early-indication", "Early indication"),
    ReadingFlag.MEASUREMENT_ONGOING: ("msmt-ongoing", "Measurement ongoing"),
}
"""Reading flags that are IEEE 11073 measurement-status bits with a PHD interpretation code."""

INVALID_FLAGS: Final[Mapping[str, tuple[str, str]]] = {
    ReadingFlag.INVALID: ("error", "Error"),
    ReadingFlag.MEASUREMENT_UNAVAILABLE: ("unknown", "Unknown"),
}
"""Measurement-status bits after which the PHD IG reports no value but a data-absent reason."""

PRELIMINARY_FLAGS: Final = frozenset({ReadingFlag.EARLY_ESTIMATE, ReadingFlag.MEASUREMENT_ONGOING})
"""An early estimate or a measurement still in progress is not final."""

TEST_FLAGS: Final = frozenset({ReadingFlag.TEST_DATA, ReadingFlag.DEMONSTRATION_DATA})
"""Test or demonstration data: ``meta.security`` HTEST (PHD IG)."""

DEVICE_SPECIALIZATION: Final[Mapping[str, tuple[int, str]]] = {
    DeviceKind.PULSE_OXIMETER: (528388, "MDC_DEV_SPEC_PROFILE_PULS_OXIM"),
    DeviceKind.BP_CUFF: (528391, "MDC_DEV_SPEC_PROFILE_BP"),
    DeviceKind.THERMOMETER: (528392, "MDC_DEV_SPEC_PROFILE_TEMP"),
    DeviceKind.SCALE: (528399, "MDC_DEV_SPEC_PROFILE_SCALE"),
    DeviceKind.GLUCOMETER: (528401, "MDC_DEV_SPEC_PROFILE_GLUCOSE"),
}


def _observation_codes() -> Mapping[tuple[str, str], frozenset[int]]:
    index: dict[tuple[str, str], set[int]] = {
        (MDC, str(MDC_PRESS_BLD_NONINV)): {MDC_PRESS_BLD_NONINV},
        (LOINC, LOINC_BP_PANEL): {MDC_PRESS_BLD_NONINV},
    }
    for code, metric_coding in METRIC_CODINGS.items():
        if code in BP_COMPONENT_CODES:
            continue  # component codes, never an Observation.code
        index.setdefault((MDC, str(code)), set()).add(code)
        for loinc, _ in metric_coding.loinc:
            index.setdefault((LOINC, loinc), set()).add(code)
    return {key: frozenset(groups) for key, groups in index.items()}


OBSERVATION_CODES: Final[Mapping[tuple[str, str], frozenset[int]]] = _observation_codes()
"""(system, code) of each ``Observation.code`` coding → the observation groups (MDC codes of the
Observation, the BP panel's 150020 included) that carry it; LOINC 8867-4 names both pulse sources."""

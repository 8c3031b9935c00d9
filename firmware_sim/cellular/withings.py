"""Withings cellular BPM Connect and Body scale (``reference/cellular-and-logistics.md`` §1.6): the
webhook is only a hint (form-encoded ``userid, appli, startdate, enddate``; no values, no signature),
and the values come from ``getmeas`` measure groups that carehub fetches.

Traps produced here:

- a measure's real value is ``value × 10^unit``, and the same number can come with different
  exponents (81.65 kg as 81650 × 10^-3 or 8165 × 10^-2);
- ``attrib`` says who captured the group: 0 (device, unambiguous) counts for RPM; 2 and 4 are manual
  entries in the app and 1 is "device, but possibly another user" - none of them count;
- the notification's ``appli`` is 4 for blood pressure and 1 for weight.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import numpy as np

from core.domain import DeviceKind, MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, Unit
from firmware_sim.cellular.delivery import IntendedVendorMessage, MessageKind, VendorDelivery
from firmware_sim.errors import SimulationError
from firmware_sim.gatt.medfloat import exact_decimal, scaled_integer
from firmware_sim.intent import observation
from firmware_sim.physiology import Physiology

VENDOR = "withings"
PATH = "/webhooks/withings"
ATTRIB_DEVICE = 0
ATTRIB_AMBIGUOUS_USER = 1
ATTRIB_MANUAL = (2, 4)
MEASURE_TYPES = {
    Metric.MDC_MASS_BODY_ACTUAL: 1,
    Metric.MDC_PRESS_BLD_NONINV_DIA: 9,
    Metric.MDC_PRESS_BLD_NONINV_SYS: 10,
    Metric.MDC_PULS_RATE_NON_INV: 11,
}
APPLI = {DeviceKind.BP_CUFF: 4, DeviceKind.SCALE: 1}
MODELS = {DeviceKind.BP_CUFF: ("BPM Connect", 45), DeviceKind.SCALE: ("Body Pro", 7)}


@dataclass(frozen=True, slots=True)
class WithingsMeasurement:
    notification: VendorDelivery
    """The webhook hint; its intent is a NOTIFICATION without values."""
    group: dict[str, Any]
    """The measure group ``getmeas`` returns for it."""
    intended: IntendedVendorMessage
    """What the group means."""


@dataclass
class WithingsUser:
    userid: int
    kind: DeviceKind
    physiology: Physiology
    rng: np.random.Generator
    manual_rate: float = 0.1
    ambiguous_rate: float = 0.02
    next_grpid: int = 5_234_567_890

    def __post_init__(self) -> None:
        if self.kind not in APPLI:
            raise SimulationError(f"no Withings {self.kind} is simulated")
        self.deviceid = hashlib.sha1(f"{self.userid}:{self.kind}".encode(), usedforsecurity=False).hexdigest()

    def measure(self, at: datetime, *, attrib: int | None = None) -> WithingsMeasurement:
        if attrib is None:
            draw = self.rng.random()
            manual = draw < self.manual_rate
            ambiguous = not manual and draw < self.manual_rate + self.ambiguous_rate
            attrib = (
                int(self.rng.choice(ATTRIB_MANUAL)) if manual else ATTRIB_AMBIGUOUS_USER if ambiguous else ATTRIB_DEVICE
            )
        observations = self._observations(at)
        date = int(at.timestamp())
        created = date + int(self.rng.integers(20, 120))
        model, model_id = MODELS[self.kind]
        group = {
            "grpid": self.next_grpid,
            "attrib": attrib,
            "date": date,
            "created": created,
            "modified": created,
            "category": 1,
            "deviceid": None if attrib in ATTRIB_MANUAL else self.deviceid,
            "model": model,
            "model_id": model_id,
            "measures": [self._measure(o) for o in observations],
        }
        self.next_grpid += 1
        flags = {ReadingFlag.MANUAL_ENTRY} if attrib in ATTRIB_MANUAL else set()
        if attrib == ATTRIB_AMBIGUOUS_USER:
            flags.add(ReadingFlag.QUESTIONABLE)
        intended = IntendedVendorMessage(
            VENDOR,
            MessageKind.READING,
            str(self.userid),
            reading_kind=ReadingKind.BLOOD_PRESSURE if self.kind == DeviceKind.BP_CUFF else ReadingKind.WEIGHT,
            observations=observations,
            flags=frozenset(flags),
            measured_at=datetime.fromtimestamp(date, UTC),
            measured_at_source=MeasuredAtSource.VENDOR_CLOUD,
            true_measured_at=at,
            billable=attrib == ATTRIB_DEVICE,
        )
        return WithingsMeasurement(self._notification(date, created), group, intended)

    def _observations(self, at: datetime) -> tuple[Observation, ...]:
        if self.kind == DeviceKind.SCALE:
            return (observation(Metric.MDC_MASS_BODY_ACTUAL, self.physiology.weight_kg(at), Unit.KG),)
        bp = self.physiology.blood_pressure(at)
        return (
            observation(Metric.MDC_PRESS_BLD_NONINV_SYS, float(bp.systolic), Unit.MMHG),
            observation(Metric.MDC_PRESS_BLD_NONINV_DIA, float(bp.diastolic), Unit.MMHG),
            observation(Metric.MDC_PULS_RATE_NON_INV, float(bp.pulse), Unit.PER_MIN),
        )

    def _measure(self, obs: Observation) -> dict[str, int]:
        """``value × 10^unit``, the exponent drawn from the two exact ones (81.65 as 8165e-2 or 81650e-3)."""
        value = exact_decimal(obs.value if obs.value is not None else 0.0)
        exponent = value.normalize().as_tuple().exponent
        finest = min(0, exponent) if isinstance(exponent, int) else 0
        unit = finest - int(self.rng.integers(0, 2))
        return {"value": scaled_integer(value, unit), "type": MEASURE_TYPES[obs.metric], "unit": unit}

    def _notification(self, date: int, created: int) -> VendorDelivery:
        form = {"userid": self.userid, "appli": APPLI[self.kind], "startdate": date, "enddate": created}
        hint = IntendedVendorMessage(VENDOR, MessageKind.NOTIFICATION, str(self.userid))
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return VendorDelivery(VENDOR, PATH, urlencode(form).encode(), (hint,), headers)


def measure_value(measure: dict[str, int]) -> float:
    """The real value of a getmeas measure (for tests and documentation of the rule)."""
    return float(exact_decimal(measure["value"]).scaleb(measure["unit"]))

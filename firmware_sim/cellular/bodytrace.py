"""BodyTrace cellular scale and blood-pressure cuff, as the BodyTrace cloud pushes them
(``reference/cellular-and-logistics.md`` §1.1): one JSON object per transmission, HTTP Basic auth with
credentials carehub chose.

Traps a normaliser must handle, all produced here:

- ``deviceId`` is the IMEI without its Luhn digit and without leading zeros, a JSON number; some
  payloads also carry the full ``imei`` as a string;
- weight is in grams whatever the display unit (``values.unit`` 1 = the scale shows pounds);
  ``tare`` is the zero drift, and the weight includes it when it exceeds 100 g (integrators subtract it);
- systolic and diastolic are in pascals (mmHg × 133.322…, rounded), pulse in beats/min, ``irregular`` 0/1;
- ``values: {}`` is a heartbeat, not a reading;
- ``rssi`` is a positive "-dBm" (91 means -91 dBm), ``batteryVoltage`` is in millivolts.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.domain import DeviceKind, MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, Unit
from core.units import PASCAL_PER_MMHG
from firmware_sim.cellular.delivery import IntendedVendorMessage, MessageKind, VendorDelivery, json_body
from firmware_sim.cellular.imei import bodytrace_device_id
from firmware_sim.errors import SimulationError
from firmware_sim.intent import observation
from firmware_sim.physiology import Physiology

VENDOR = "bodytrace"
PATH = "/webhooks/bodytrace"
TARE_SUBTRACTED_ABOVE_G = 100
BATTERY_MV = (4700.0, 6000.0)
"""Functional battery range; the simulated device starts full and loses a little per transmission."""
MV_PER_TRANSMISSION = 0.8
LARGE_TARE_SHARE = 0.15
"""Of the weighings with a zero drift, the share where it exceeds 100 g and is folded into the weight."""


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


@dataclass
class BodyTraceDevice:
    """One BodyTrace device (``kind`` is ``SCALE`` or ``BP_CUFF``) of one patient."""

    imei: str
    kind: DeviceKind
    physiology: Physiology
    rng: np.random.Generator
    basic_auth: tuple[str, str] = ("carehub", "bodytrace-sim")
    include_imei: bool = False
    display_pounds: bool = True
    battery_mv: float = BATTERY_MV[1]
    rssi: int = 91
    rssi_jitter: int = 3
    tare_rate: float = 0.2

    def __post_init__(self) -> None:
        if self.kind not in (DeviceKind.SCALE, DeviceKind.BP_CUFF):
            raise SimulationError(f"BodyTrace makes scales and cuffs, not {self.kind}")
        bodytrace_device_id(self.imei)  # refuses an invalid IMEI

    def measure(self, at: datetime) -> VendorDelivery:
        """A reading taken and transmitted at ``at``."""
        values, intended = self._weighing(at) if self.kind == DeviceKind.SCALE else self._blood_pressure(at)
        return self._deliver(at, values, intended)

    def heartbeat(self, at: datetime) -> VendorDelivery:
        intended = IntendedVendorMessage(VENDOR, MessageKind.HEARTBEAT, self.imei)
        return self._deliver(at, {}, intended)

    def _deliver(self, at: datetime, values: dict[str, Any], intended: IntendedVendorMessage) -> VendorDelivery:
        self.battery_mv = max(BATTERY_MV[0], self.battery_mv - MV_PER_TRANSMISSION)
        jitter = int(self.rng.integers(-self.rssi_jitter, self.rssi_jitter + 1)) if self.rssi_jitter else 0
        self.rssi = int(np.clip(self.rssi + jitter, 60, 115))
        document: dict[str, Any] = {"deviceId": bodytrace_device_id(self.imei)}
        if self.include_imei:
            document["imei"] = self.imei
        document |= {"ts": _ms(at), "batteryVoltage": round(self.battery_mv), "rssi": self.rssi, "values": values}
        token = base64.b64encode(":".join(self.basic_auth).encode()).decode()
        headers = {"Content-Type": "application/json", "Authorization": f"Basic {token}"}
        return VendorDelivery(VENDOR, PATH, json_body(document), (intended,), headers)

    def _reading(
        self, at: datetime, kind: ReadingKind, observations: tuple[Observation, ...], flags: frozenset[ReadingFlag]
    ) -> IntendedVendorMessage:
        return IntendedVendorMessage(
            VENDOR,
            MessageKind.READING,
            self.imei,
            reading_kind=kind,
            observations=observations,
            flags=flags,
            measured_at=datetime.fromtimestamp(_ms(at) / 1000, UTC),
            measured_at_source=MeasuredAtSource.VENDOR_CLOUD,
            true_measured_at=at,
            billable=True,
        )

    def _weighing(self, at: datetime) -> tuple[dict[str, Any], IntendedVendorMessage]:
        grams = round(self.physiology.weight_kg(at) * 1000)
        tare = 0
        if self.rng.random() < self.tare_rate:
            big = self.rng.random() < LARGE_TARE_SHARE
            tare = int(self.rng.integers(101, 400)) if big else int(self.rng.integers(-80, 81))
        wire = grams + tare if abs(tare) > TARE_SUBTRACTED_ABOVE_G else grams
        values = {"unit": 1 if self.display_pounds else 0, "weight": wire, "tare": tare}
        weight = observation(Metric.MDC_MASS_BODY_ACTUAL, float(grams), Unit.G)
        return values, self._reading(at, ReadingKind.WEIGHT, (weight,), frozenset())

    def _blood_pressure(self, at: datetime) -> tuple[dict[str, Any], IntendedVendorMessage]:
        bp = self.physiology.blood_pressure(at)
        systolic_pa, diastolic_pa = (round(mmhg * PASCAL_PER_MMHG) for mmhg in (bp.systolic, bp.diastolic))
        values = {
            "systolic": systolic_pa,
            "diastolic": diastolic_pa,
            "pulse": bp.pulse,
            "unit": 1,
            "irregular": int(bp.irregular_pulse),
        }
        observations = (
            _pascals(Metric.MDC_PRESS_BLD_NONINV_SYS, bp.systolic, systolic_pa),
            _pascals(Metric.MDC_PRESS_BLD_NONINV_DIA, bp.diastolic, diastolic_pa),
            observation(Metric.MDC_PULS_RATE_NON_INV, float(bp.pulse), Unit.PER_MIN),
        )
        flags = frozenset({ReadingFlag.IRREGULAR_PULSE}) if bp.irregular_pulse else frozenset()
        return values, self._reading(at, ReadingKind.BLOOD_PRESSURE, observations, flags)


def _pascals(metric: Metric, mmhg: float, pascals: int) -> Observation:
    """The cuff's whole-mmHg value, with the pascals it was sent in kept as the source (``Unit.PA``, a
    source-only unit in core.domain for exactly this trap).

    A normaliser recovers the mmHg with the reference's guard, ``round(pa / 133.322)``; the canonical
    value is that whole number, not ``pa`` converted exactly."""
    return Observation(metric, float(mmhg), Unit.MMHG, source_value=float(pascals), source_unit=Unit.PA)

"""A simulated home hub at the protocol level: the readings its devices produce and the
``up/readings`` batches it publishes (``docs/wire-formats/mqtt.md``), without any transport.

Pure and seeded: the same hub, seed and times give the same messages, so the MQTT runner
(:mod:`firmware_sim.hub_sim`) and the benchmark recorder (``bench/ingest.py``) share it.

Fault injection models what real hubs and devices do to a pipeline: an implausible or malformed
reading now and then, a device that replays a stored reading under a new reading id, and a reading
from a device the hub was never assigned."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from core.domain import METRICS, DeviceKind, Metric, ReadingKind, Unit
from core.ids import uuid7
from core.units import from_canonical
from firmware_sim.physiology import PatientProfile, Physiology

Wire = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SimDevice:
    serial: str
    kind: DeviceKind
    address: str | None = None
    unit: Unit | None = None  # the unit this device reports in, when not the canonical one


@dataclass(frozen=True, slots=True)
class SimHub:
    hub_id: str
    devices: tuple[SimDevice, ...]
    profile: PatientProfile
    password: str | None = None


@dataclass(frozen=True, slots=True)
class FaultMix:
    """Per-reading probabilities of each kind of bad input."""

    bad_reading: float = 0.0
    replay_with_new_id: float = 0.0
    unknown_device: float = 0.0

    @classmethod
    def demo(cls) -> FaultMix:
        return cls(bad_reading=0.01, replay_with_new_id=0.02, unknown_device=0.003)


_BAD_KINDS = ("implausible", "unknown_metric", "bad_unit", "missing_required", "future")


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _obs(metric: Metric, value: float, unit: Unit | None = None) -> Wire:
    spec = METRICS[metric]
    unit = unit or spec.canonical_unit
    shown = from_canonical(spec, value, unit) if unit != spec.canonical_unit else value
    return {"code": metric.value, "value": round(float(shown), 2), "unit": unit.value}


@dataclass
class HubModel:
    """One hub's devices and patient; produces readings and batches."""

    hub: SimHub
    rng: np.random.Generator
    faults: FaultMix = field(default_factory=FaultMix)
    session: int = 1
    _seq: int = 0
    _last_measured: dict[str, datetime] = field(default_factory=dict)
    _stored: list[Wire] = field(default_factory=list)
    physiology: Physiology = field(init=False)

    def __post_init__(self) -> None:
        self.physiology = Physiology(self.hub.profile, self.rng)

    def _reading_id(self, at: datetime) -> str:
        return str(uuid7(int(at.timestamp() * 1000), self.rng.bytes(10)))

    def _observations(self, device: SimDevice, at: datetime) -> tuple[ReadingKind, list[Wire], list[str]]:
        p = self.physiology
        unit = device.unit
        if device.kind is DeviceKind.BP_CUFF:
            bp = p.blood_pressure(at)
            mean = bp.diastolic + (bp.systolic - bp.diastolic) / 3
            obs = [
                _obs(Metric.MDC_PRESS_BLD_NONINV_SYS, bp.systolic, unit),
                _obs(Metric.MDC_PRESS_BLD_NONINV_DIA, bp.diastolic, unit),
                _obs(Metric.MDC_PRESS_BLD_NONINV_MEAN, round(mean), unit),
                _obs(Metric.MDC_PULS_RATE_NON_INV, bp.pulse),
            ]
            return ReadingKind.BLOOD_PRESSURE, obs, ["irregular_pulse"] if bp.irregular_pulse else []
        if device.kind is DeviceKind.GLUCOMETER:
            return ReadingKind.GLUCOSE, [_obs(Metric.MDC_CONC_GLU_CAPILLARY_PLASMA, p.glucose(at), unit)], []
        if device.kind is DeviceKind.SCALE:
            return ReadingKind.WEIGHT, [_obs(Metric.MDC_MASS_BODY_ACTUAL, p.weight_kg(at), unit)], []
        if device.kind is DeviceKind.PULSE_OXIMETER:
            spo2, pulse = p.pulse_oximetry(at)
            return (
                ReadingKind.PULSE_OXIMETRY,
                [_obs(Metric.MDC_PULS_OXIM_SAT_O2, spo2), _obs(Metric.MDC_PULS_OXIM_PULS_RATE, pulse)],
                [],
            )
        return ReadingKind.TEMPERATURE, [_obs(Metric.MDC_TEMP_BODY, p.temperature_c(at), unit)], []

    def measure(self, device: SimDevice, at: datetime, *, received_at: datetime | None = None) -> Wire | None:
        """One reading from ``device`` measured at ``at`` (whole seconds, as device clocks report);
        None if the device already measured at that second."""
        at = at.replace(microsecond=0)
        last = self._last_measured.get(device.serial)
        if last is not None and at <= last:
            return None
        self._last_measured[device.serial] = at
        kind, observations, flags = self._observations(device, at)
        reading: Wire = {
            "reading_id": self._reading_id(at),
            "device_serial": device.serial,
            "kind": kind.value,
            "measured_at": _iso(at),
            "measured_at_source": "device_clock",
            "received_at": _iso(received_at or at),
            "from_device_memory": False,
            "observations": observations,
        }
        if device.address:
            reading["device_address"] = device.address
        if flags:
            reading["flags"] = flags
        self._stored.append(reading)
        if len(self._stored) > 200:
            del self._stored[:100]
        return reading

    def rewind(self) -> None:
        """Allow measurement times before the latest one again (a simulated clock that wraps)."""
        self._last_measured.clear()

    def readings(self, at: datetime, count: int) -> list[Wire]:
        """Up to ``count`` readings from randomly chosen devices at about ``at``, with faults mixed
        in as configured."""
        out: list[Wire] = []
        for _ in range(count):
            roll = self.rng.random()
            f = self.faults
            if roll < f.replay_with_new_id and self._stored:
                replay = dict(self._stored[int(self.rng.integers(len(self._stored)))])
                replay["reading_id"] = self._reading_id(at)
                replay["from_device_memory"] = True
                out.append(replay)
                continue
            device = self.hub.devices[int(self.rng.integers(len(self.hub.devices)))]
            reading = self.measure(device, at - timedelta(seconds=len(out)), received_at=at)
            if reading is None:
                continue
            roll -= f.replay_with_new_id
            if roll < f.bad_reading:
                reading = self._spoil(reading, at)
            elif roll < f.bad_reading + f.unknown_device:
                reading = dict(reading, device_serial=f"UNKNOWN-{self.hub.hub_id[-6:]}")
            out.append(reading)
        return out

    def _spoil(self, reading: Wire, at: datetime) -> Wire:
        spoiled = dict(reading)
        observations = [dict(o) for o in reading["observations"]]
        how = _BAD_KINDS[int(self.rng.integers(len(_BAD_KINDS)))]
        if how == "implausible":
            observations[0]["value"] = 9999.0
        elif how == "unknown_metric":
            observations[0]["code"] = "MDC_NOT_A_METRIC"
        elif how == "bad_unit":
            observations[0]["unit"] = "mmol/L" if observations[0]["unit"] != "mmol/L" else "kg"
        elif how == "missing_required":
            observations = [{"code": "MDC_TEMP_BODY", "value": 37.0, "unit": "Cel"}]
        else:
            spoiled["measured_at"] = _iso(at.replace(microsecond=0) + timedelta(hours=2))
        spoiled["observations"] = observations
        return spoiled

    def envelope(self, readings: list[Wire], sent_at: datetime) -> Wire:
        self._seq += 1
        return {
            "v": 1,
            "batch_id": self._reading_id(sent_at).replace("-", "")[:26],
            "session": self.session,
            "seq": self._seq,
            "sent_at": _iso(sent_at),
            "readings": readings,
        }


def batches_of(readings: list[Wire], size: int) -> Iterator[list[Wire]]:
    for start in range(0, len(readings), size):
        yield readings[start : start + size]

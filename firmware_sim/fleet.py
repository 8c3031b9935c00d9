"""A fleet of simulated homes registered in the database: one patient, one hub and the patient's
devices per home, assigned from ``assigned_from`` on (through :mod:`provisioning.registry`, so the
simulated data goes through the same constraints as real enrolment).

Patients are synthetic (``DEMO-`` MRNs, no real names). A hub's patient profile is derived from its
id, so loading the fleet back from the database yields the same physiology."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import psycopg

from core.domain import DeviceKind, Unit
from firmware_sim.hub_model import SimDevice, SimHub
from firmware_sim.physiology import Condition, random_profile
from provisioning import registry

_PREFIX = {
    DeviceKind.BP_CUFF: "BP",
    DeviceKind.GLUCOMETER: "GL",
    DeviceKind.SCALE: "SC",
    DeviceKind.PULSE_OXIMETER: "OX",
    DeviceKind.THERMOMETER: "TH",
}


def _rng_for(hub_id: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(hub_id.encode()).digest()[:8], "big"))


def _device_kinds(conditions: frozenset[Condition], count: int | None) -> list[DeviceKind]:
    """The patient's devices: a cuff for everyone, then what the conditions call for, then others
    when more are asked for."""
    needed = [DeviceKind.BP_CUFF]
    for condition, kind in (
        (Condition.DIABETES, DeviceKind.GLUCOMETER),
        (Condition.HEART_FAILURE, DeviceKind.SCALE),
        (Condition.COPD, DeviceKind.PULSE_OXIMETER),
    ):
        if condition in conditions:
            needed.append(kind)
    extras = [k for k in DeviceKind if k not in needed]
    return (needed + extras)[: count if count is not None else max(2, len(needed))]


def _units(kind: DeviceKind, rng: np.random.Generator) -> Unit | None:
    # US devices mostly report pounds and mg/dL; a few cuffs and scales report kPa or kg.
    if kind is DeviceKind.SCALE:
        return Unit.LB if rng.random() < 0.8 else Unit.KG
    if kind is DeviceKind.THERMOMETER:
        return Unit.DEG_F if rng.random() < 0.7 else Unit.CEL
    if kind is DeviceKind.BP_CUFF and rng.random() < 0.05:
        return Unit.KPA
    return None


def _address(rng: np.random.Generator) -> str:
    return ":".join(f"{b:02X}" for b in rng.integers(0, 256, size=6))


def sim_hub(hub_id: str, devices: tuple[SimDevice, ...], time_zone: str, password: str | None = None) -> SimHub:
    return SimHub(hub_id, devices, random_profile(_rng_for(hub_id), time_zone=time_zone), password)


def seed_fleet(
    conn: psycopg.Connection[tuple[Any, ...]],
    *,
    practice_id: UUID,
    hubs: int,
    assigned_from: datetime,
    devices_per_hub: int | None = None,
    time_zone: str = "America/New_York",
    tag: str | None = None,
) -> list[SimHub]:
    """Register ``hubs`` homes (patient, hub, devices, assignments) and return them as SimHubs."""
    tag = tag or secrets.token_hex(3)
    fleet: list[SimHub] = []
    for index in range(hubs):
        hub_id = f"hub-{tag}-{index:05d}"
        rng = _rng_for(hub_id)
        profile = random_profile(rng, time_zone=time_zone)
        patient_id = registry.create_patient(
            conn, practice_id=practice_id, mrn=f"DEMO-{tag}-{index:05d}", time_zone=time_zone
        )
        registry.create_hub(conn, practice_id=practice_id, hub_id=hub_id, serial=f"HUB{tag.upper()}{index:05d}")
        devices = []
        for number, kind in enumerate(_device_kinds(profile.conditions, devices_per_hub), start=1):
            serial = f"{_PREFIX[kind]}{tag.upper()}{index:05d}{number}"
            record = registry.create_device(
                conn, practice_id=practice_id, serial=serial, kind=kind, ble_address=_address(rng)
            )
            registry.assign_device_to_patient(conn, device=record, patient_id=patient_id, valid_from=assigned_from)
            registry.assign_device_to_hub(conn, device=record, hub_id=hub_id, valid_from=assigned_from)
            devices.append(SimDevice(serial, kind, record.ble_address, _units(kind, rng)))
        fleet.append(SimHub(hub_id, tuple(devices), profile))
    return fleet


def load_fleet(conn: psycopg.Connection[tuple[Any, ...]], *, practice_id: UUID) -> list[SimHub]:
    """The practice's hubs with the devices currently assigned to them."""
    rows = conn.execute(
        """SELECT h.id, d.serial, d.kind, d.ble_address, p.time_zone
             FROM hubs h
             JOIN device_hub_assignments a ON a.hub_id = h.id AND a.valid_to IS NULL
             JOIN devices d ON d.id = a.device_id
             JOIN practices p ON p.id = h.practice_id
            WHERE h.practice_id = %s
            ORDER BY h.id, d.serial""",
        (practice_id,),
    ).fetchall()
    by_hub: dict[str, list[SimDevice]] = {}
    zones: dict[str, str] = {}
    for hub_id, serial, kind, address, zone in rows:
        rng = _rng_for(str(serial))
        device_kind = DeviceKind(str(kind))
        by_hub.setdefault(str(hub_id), []).append(
            SimDevice(str(serial), device_kind, str(address) if address else None, _units(device_kind, rng))
        )
        zones[str(hub_id)] = str(zone)
    return [sim_hub(hub_id, tuple(devices), zones[hub_id]) for hub_id, devices in by_hub.items()]

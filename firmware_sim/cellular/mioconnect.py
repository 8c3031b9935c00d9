"""Transtek / MioConnect cellular scale in "fully managed forwarding" mode: MioConnect POSTs
``/forwardtelemetry`` with an API-key header whose name and value carehub configures
(``reference/cellular-and-logistics.md`` §1.4, from MioConnect's public sample server).

Body: ``deviceId`` (usually the serial), ``modelNumber``, ``createdAt`` (Unix seconds when the data
reached MioConnect), ``isTest``, and the device's own ``data``: for the GBS-2012-C scale
``wt, bmi, fat, bm, mus, ts`` with ``wt`` in grams ([I] in the reference: the mock's 40000-100000
range) and ``ts`` in Unix seconds. Traps: ``isTest: true`` traffic must never become clinical data or
count for billing; ``createdAt`` is receipt, not measurement time.

The reference found no BP or glucometer data keys for MioConnect, so only the scale is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from core.domain import MeasuredAtSource, Metric, ReadingKind, Unit
from firmware_sim.cellular.delivery import IntendedVendorMessage, MessageKind, VendorDelivery, json_body
from firmware_sim.intent import observation
from firmware_sim.physiology import Physiology

VENDOR = "mioconnect"
PATH = "/forwardtelemetry"
MODEL_NUMBER = "GBS-2012-C"
TEST_WEIGHT_G = 50000
"""What a factory or installer test posts: a fixed test mass, flagged ``isTest``."""


@dataclass
class MioConnectScale:
    serial: str
    physiology: Physiology
    rng: np.random.Generator
    api_key_header: tuple[str, str] = ("x-mio-api-key", "mio-sim")

    def measure(self, at: datetime, *, received_at: datetime | None = None) -> VendorDelivery:
        grams = round(self.physiology.weight_kg(at) * 1000)
        intended = IntendedVendorMessage(
            VENDOR,
            MessageKind.READING,
            self.serial,
            reading_kind=ReadingKind.WEIGHT,
            observations=(observation(Metric.MDC_MASS_BODY_ACTUAL, float(grams), Unit.G),),
            measured_at=datetime.fromtimestamp(int(at.timestamp()), UTC),
            measured_at_source=MeasuredAtSource.VENDOR_CLOUD,
            true_measured_at=at,
            billable=True,
        )
        return self._deliver(at, received_at, grams, is_test=False, intended=intended)

    def test_message(self, at: datetime) -> VendorDelivery:
        """Installer or factory test traffic: a well-formed reading flagged ``isTest``."""
        intended = IntendedVendorMessage(
            VENDOR,
            MessageKind.TEST,
            self.serial,
            measured_at=datetime.fromtimestamp(int(at.timestamp()), UTC),
            measured_at_source=MeasuredAtSource.VENDOR_CLOUD,
            true_measured_at=at,
        )
        return self._deliver(at, None, TEST_WEIGHT_G, is_test=True, intended=intended)

    def _deliver(
        self, at: datetime, received_at: datetime | None, grams: int, *, is_test: bool, intended: IntendedVendorMessage
    ) -> VendorDelivery:
        received = received_at or at + timedelta(seconds=int(self.rng.integers(3, 90)))
        document = {
            "deviceId": self.serial,
            "modelNumber": MODEL_NUMBER,
            "createdAt": int(received.timestamp()),
            "isTest": is_test,
            "data": {"wt": grams, "bmi": 0, "fat": 0, "bm": 0, "mus": 0, "ts": int(at.timestamp())},
        }
        name, key = self.api_key_header
        headers = {"Content-Type": "application/json", name: key}
        return VendorDelivery(VENDOR, PATH, json_body(document), (intended,), headers)

"""MioConnect forwarded telemetry (grams, isTest) and Withings hints with getmeas groups (value ×
10^unit, manual entries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import numpy as np

from core.domain import DeviceKind, Metric, ReadingFlag
from firmware_sim.cellular.delivery import MessageKind
from firmware_sim.cellular.mioconnect import MioConnectScale
from firmware_sim.cellular.withings import WithingsUser, measure_value
from firmware_sim.physiology import Physiology
from tests.firmware_sim.cellular_fixtures import fixed

AT = datetime.fromtimestamp(1709560907, UTC)  # the reference's MioConnect example "ts"


def test_mioconnect_forward_example(seed: int) -> None:
    # Origin: reference cellular §1.4 Mode B example body.
    scale = MioConnectScale("202109100001", fixed(), np.random.default_rng(seed), ("x-mio-key", "k1"))
    delivery = scale.measure(AT, received_at=AT + timedelta(seconds=43))
    assert delivery.path == "/forwardtelemetry"
    assert delivery.headers["x-mio-key"] == "k1"
    assert delivery.json() == {
        "deviceId": "202109100001",
        "modelNumber": "GBS-2012-C",
        "createdAt": 1709560950,
        "isTest": False,
        "data": {"wt": 81650, "bmi": 0, "fat": 0, "bm": 0, "mus": 0, "ts": 1709560907},
    }
    (intended,) = delivery.intended
    assert intended.observations[0].value == 81.65
    assert intended.measured_at == AT
    assert intended.billable


def test_mioconnect_test_traffic_is_never_clinical(patient: Physiology, seed: int) -> None:
    delivery = MioConnectScale("202109100001", patient, np.random.default_rng(seed)).test_message(AT)
    assert delivery.json()["isTest"] is True
    (intended,) = delivery.intended
    assert intended.kind == MessageKind.TEST
    assert intended.observations == ()
    assert not intended.billable
    # Regression (round trip with drivers): test traffic states a time like any message; the intent had none.
    assert intended.measured_at == AT


def test_withings_hint_then_group(patient: Physiology, seed: int) -> None:
    user = WithingsUser(12345, DeviceKind.BP_CUFF, patient, np.random.default_rng(seed))
    measurement = user.measure(AT, attrib=0)
    form = parse_qs(measurement.notification.body.decode())
    assert form == {
        "userid": ["12345"],
        "appli": ["4"],
        "startdate": [str(int(AT.timestamp()))],
        "enddate": [form["enddate"][0]],
    }
    assert measurement.notification.intended[0].kind == MessageKind.NOTIFICATION
    assert measurement.notification.intended[0].observations == ()
    group = measurement.group
    by_type = {m["type"]: measure_value(m) for m in group["measures"]}
    values = {o.metric: o.value for o in measurement.intended.observations}
    assert by_type == {
        10: values[Metric.MDC_PRESS_BLD_NONINV_SYS],
        9: values[Metric.MDC_PRESS_BLD_NONINV_DIA],
        11: values[Metric.MDC_PULS_RATE_NON_INV],
    }
    assert measurement.intended.billable


def test_withings_exponents_vary_for_the_same_value(seed: int) -> None:
    user = WithingsUser(7, DeviceKind.SCALE, fixed(), np.random.default_rng(seed), manual_rate=0, ambiguous_rate=0)
    forms = {(m["value"], m["unit"]) for i in range(30) for m in user.measure(AT + timedelta(days=i)).group["measures"]}
    assert forms == {(8165, -2), (81650, -3)}


def test_withings_manual_and_ambiguous_entries_do_not_count(patient: Physiology, seed: int) -> None:
    user = WithingsUser(9, DeviceKind.SCALE, patient, np.random.default_rng(seed), manual_rate=0.3, ambiguous_rate=0.1)
    seen: dict[int, int] = {}
    for i in range(300):
        measurement = user.measure(AT + timedelta(hours=i))
        attrib = measurement.group["attrib"]
        seen[attrib] = seen.get(attrib, 0) + 1
        assert measurement.intended.billable == (attrib == 0)
        assert (ReadingFlag.MANUAL_ENTRY in measurement.intended.flags) == (attrib in (2, 4))
        assert (measurement.group["deviceid"] is None) == (attrib in (2, 4))
    assert set(seen) == {0, 1, 2, 4}
    assert len({user.measure(AT).group["grpid"] for _ in range(5)}) == 5

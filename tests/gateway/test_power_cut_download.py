"""``carehub gateway run`` on a simulated home, killed with SIGKILL in the middle of a glucometer's
RACP download and started again: the download resumes after the last record the outbox committed,
and every record reaches the database once with the value the meter produced."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from carehub.local_services import IngestProcess, MosquittoBroker
from carehub.simulated_home import DeviceSpec, HomeSpec, desired_config
from tests.gateway.cloud import publish_desired
from tests.gateway.conftest import HUB_ID, register_home
from tests.gateway.process import GatewayProcess, outbox_counts
from tests.pipeline import wait_until

RECORDS = 500


def test_sigkill_mid_racp_download_then_restart_loses_and_repeats_nothing(
    db: psycopg.Connection[tuple[Any, ...]],
    broker: MosquittoBroker,
    ingest: IngestProcess,
    topic_root: str,
    tmp_path: Path,
) -> None:
    spec = HomeSpec(
        devices=(DeviceSpec("contour", "GL-0001", "C0:DE:00:00:00:02", stored=RECORDS, seed=5),),
        t0=datetime.now(UTC).replace(microsecond=0).isoformat(),
    )
    register_home(db, spec)
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())
    spec_path = tmp_path / "home.json"
    spec_path.write_text(spec.to_json())
    data_dir = tmp_path / "hub"
    env = {"CAREHUB_GATEWAY_TIMEZONE": spec.time_zone}

    first = GatewayProcess.start(
        hub_id=HUB_ID,
        mqtt_port=broker.port,
        topic_root=topic_root,
        data_dir=data_dir,
        simulated_home=spec_path,
        extra_env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while outbox_counts(data_dir)[1] == 0:  # the first records are committed: pull the plug
            assert time.monotonic() < deadline, first.log_tail()
            time.sleep(0.005)
    finally:
        first.kill()
    held_at_kill = outbox_counts(data_dir)[1]
    assert 0 < held_at_kill < RECORDS, f"killed after {held_at_kill} of {RECORDS} records"

    second = GatewayProcess.start(
        hub_id=HUB_ID,
        mqtt_port=broker.port,
        topic_root=topic_root,
        data_dir=data_dir,
        simulated_home=spec_path,
        extra_env=env,
    )
    try:
        wait_until(lambda: outbox_counts(data_dir) == (0, RECORDS), 120, "every record held and acknowledged")
    finally:
        assert second.stop() == 0, second.log_tail()
    rows, readings = db.execute("SELECT count(*), count(DISTINCT reading_id) FROM readings").fetchone()  # type: ignore[misc]
    assert (rows, readings) == (RECORDS, RECORDS)
    # The restarted meter is the same meter (same seed, same memory): compare with its records.
    from carehub.simulated_home import build_model

    meter = build_model(spec, spec.devices[0])
    expected = sorted(round(r.intended.observations[0].value, 9) for r in _records(meter))
    stored = sorted(round(v, 9) for (v,) in db.execute("SELECT value FROM readings").fetchall())
    assert stored == expected


def _records(meter: Any) -> list[Any]:
    """Every stored record of the meter as it goes on air (a full RACP report)."""
    from datetime import timedelta

    at = datetime.now(UTC)
    meter.connect(at)
    meter.pair(at)
    for uuid in ("00002a18-0000-1000-8000-00805f9b34fb", "00002a52-0000-1000-8000-00805f9b34fb"):
        meter.subscribe(uuid, at)
    meter.write("00002a52-0000-1000-8000-00805f9b34fb", bytes((0x01, 0x01)), at)
    frames = meter.transmit(at + timedelta(seconds=1))
    return [f for f in frames if f.intended is not None and f.characteristic.startswith("00002a18")]

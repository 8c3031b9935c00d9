"""The outbox on a real SQLite file: ordering, deduplication, acknowledgement, history and
``resend_since``, the overflow policies, RACP cursors committed with their records, and survival of
a process killed with SIGKILL while writing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gateway.outbox import Outbox, OutboxReading
from gateway.settings import OverflowPolicy
from tests.gateway.conftest import bp_outbox_reading

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def reading(n: int, serial: str = "BP-0001", racp: int | None = None) -> OutboxReading:
    base = bp_outbox_reading(serial, T0 + timedelta(minutes=n), 120 + n % 40, 80, 70)
    return OutboxReading(base.reading_id, base.dedup_key, serial, base.measured_at, base.body, racp)


def test_pending_is_oldest_first_and_leaves_only_when_acknowledged(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "o.db")
    rs = [reading(n) for n in range(5)]
    result = outbox.add(rs, now=T0)
    assert (result.added, result.duplicates, result.refused, result.dropped, result.depth) == (5, 0, 0, 0, 5)
    assert [p.reading_id for p in outbox.pending(limit=10)] == [r.reading_id for r in rs]
    assert outbox.acknowledge([rs[1].reading_id, rs[3].reading_id, "not-ours"], now=T0) == 2
    assert [p.reading_id for p in outbox.pending(limit=10)] == [rs[0].reading_id, rs[2].reading_id, rs[4].reading_id]
    assert outbox.acknowledge([rs[1].reading_id], now=T0) == 0  # a repeated ack changes nothing
    assert outbox.depth() == 3


def test_a_replayed_memory_adds_nothing_even_after_it_was_acknowledged(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "o.db")
    first = [reading(n) for n in range(3)]
    outbox.add(first, now=T0)
    outbox.acknowledge([r.reading_id for r in first], now=T0)
    # The device sends its whole memory again: same records, new reading ids.
    replay = [
        OutboxReading(f"new-{n}", r.dedup_key, r.device_serial, r.measured_at, r.body) for n, r in enumerate(first)
    ]
    result = outbox.add(replay, now=T0)
    assert (result.added, result.duplicates, result.depth) == (0, 3, 0)


def test_resend_since_requeues_history_and_pruning_forgets_it(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "o.db", history=timedelta(days=1))
    rs = [reading(n * 60) for n in range(4)]  # one per hour
    outbox.add(rs, now=T0)
    outbox.acknowledge([r.reading_id for r in rs], now=T0)
    assert outbox.requeue_since(T0 + timedelta(hours=2)) == 2
    assert [p.reading_id for p in outbox.pending(limit=10)] == [rs[2].reading_id, rs[3].reading_id]
    assert outbox.prune_history(now=T0 + timedelta(days=2)) == 2
    assert outbox.requeue_since(T0) == 0


def test_refuse_new_keeps_what_it_has_and_stops_the_racp_cursor(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "o.db", max_readings=3, policy=OverflowPolicy.REFUSE_NEW)
    records = [reading(n, serial="GL-0001", racp=10 + n) for n in range(5)]
    result = outbox.add(records, now=T0)
    assert (result.added, result.refused, result.dropped, result.depth) == (3, 2, 0, 3)
    assert [p.reading_id for p in outbox.pending(limit=10)] == [r.reading_id for r in records[:3]]
    assert outbox.racp_cursor("GL-0001") == 12  # records 13 and 14 stay on the device for next time


def test_drop_oldest_makes_room_for_the_newest(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "o.db", max_readings=3, policy=OverflowPolicy.DROP_OLDEST)
    rs = [reading(n) for n in range(5)]
    result = outbox.add(rs, now=T0)
    assert (result.added, result.refused, result.dropped, result.depth) == (5, 0, 2, 3)
    assert [p.reading_id for p in outbox.pending(limit=10)] == [r.reading_id for r in rs[2:]]


def test_session_numbers_and_state_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    outbox = Outbox.open(path)
    assert [outbox.next_session(), outbox.next_session()] == [1, 2]
    outbox.add([reading(1, serial="GL-0001", racp=41)], now=T0)
    outbox.close()
    again = Outbox.open(path)
    assert again.next_session() == 3
    assert again.racp_cursor("GL-0001") == 41
    again.reset_racp_cursor("GL-0001")
    assert again.racp_cursor("GL-0001") is None


def test_events_are_bounded_oldest_dropped(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path / "o.db", max_events=10)
    dropped = outbox.add_events([(f"e{n}", b"{}") for n in range(12)])
    assert dropped == 2
    assert [e.event_id for e in outbox.events(100)] == [f"e{n}" for n in range(2, 12)]


@given(
    ops=st.lists(st.tuples(st.sampled_from(["add", "ack"]), st.integers(1, 6)), max_size=30),
    policy=st.sampled_from(list(OverflowPolicy)),
)
def test_depth_never_exceeds_the_bound_and_refuse_new_never_loses_a_held_reading(
    ops: list[tuple[str, int]], policy: OverflowPolicy
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        outbox = Outbox.open(Path(directory) / "o.db", max_readings=8, policy=policy)
        held: list[str] = []
        n = 0
        for op, count in ops:
            if op == "add":
                batch = [reading(n + i) for i in range(count)]
                n += count
                result = outbox.add(batch, now=T0)
                assert result.added + result.refused == count
                held += [r.reading_id for r in batch][: result.added]
                if policy is OverflowPolicy.DROP_OLDEST:
                    held = held[result.dropped :]
            else:
                outbox.acknowledge(held[:count], now=T0)
                held = held[count:]
            assert outbox.depth() <= 8
            assert [p.reading_id for p in outbox.pending(limit=100)] == held
        outbox.close()


_WRITER = textwrap.dedent(
    """
    import sys, uuid
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from gateway.outbox import Outbox, OutboxReading
    outbox = Outbox.open(Path(sys.argv[1]))
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    n = 0
    while True:
        rid = str(uuid.uuid4())
        outbox.add([OutboxReading(rid, rid, "BP-0001", t0 + timedelta(seconds=n), b'{"n": %d}' % n)], now=t0)
        # Printed only after add() returned: the reading is committed.
        print(rid, flush=True)
        n += 1
    """
)


def test_every_committed_reading_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, env=env, text=True)
    assert writer.stdout is not None
    committed = []
    for line in writer.stdout:
        committed.append(line.strip())
        if len(committed) >= 300:
            break
    writer.send_signal(signal.SIGKILL)  # no close, no checkpoint: a crash mid-write
    rest, _ = writer.communicate()
    committed += [line for line in rest.splitlines() if line]
    assert writer.returncode == -signal.SIGKILL
    outbox = Outbox.open(path)
    stored = {p.reading_id for p in outbox.pending(limit=1_000_000)}
    assert set(committed) <= stored
    assert len(stored) - len(committed) <= 1  # at most the one committed before its line was printed
    bodies = [json.loads(p.body)["n"] for p in outbox.pending(limit=1_000_000)]
    assert bodies == list(range(len(bodies)))  # nothing torn, nothing reordered

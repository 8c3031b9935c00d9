"""The hub's durable outbox: every reading is committed here, on the hub's own disk, before anything
else happens to it (DESIGN.md §2), and leaves only when the cloud acknowledges it on
``down/readings/ack`` after its database commit.

SQLite in WAL mode with ``synchronous=FULL``: a committed reading survives a killed process and a
power cut (WAL alone with ``NORMAL`` may lose the last transactions on power loss). One file holds:

- ``readings``: unacknowledged readings (``acked_at`` NULL) oldest first by ``seq``, and acknowledged
  ones kept as history for ``gateway_outbox_history_days`` so ``resend_since`` can republish them.
  ``dedup_key`` (device, kind, time, values) is unique across both, so a device that replays its
  whole memory on every connection adds nothing the second time.
- ``events``: hub events waiting to be published (bounded; the oldest go first when full).
- ``state``: small key/value facts that must survive a restart: the MQTT session number, the applied
  configuration, each glucometer's last forwarded RACP sequence number (written in the same
  transaction as the readings it covers, so a kill mid-download resumes at the right record), and
  the ids of commands already executed.

The bound on unacknowledged readings and what happens past it are explicit (:class:`OverflowPolicy`).
Methods are synchronous and thread-safe; the asyncio side calls them through ``asyncio.to_thread``
so a disk flush never stalls the BLE and MQTT traffic on the loop."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from core.errors import CarehubError
from gateway.settings import OverflowPolicy

SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS readings (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    reading_id    TEXT NOT NULL UNIQUE,
    dedup_key     TEXT NOT NULL UNIQUE,
    device_serial TEXT NOT NULL,
    measured_at   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    acked_at      TEXT,
    body          BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_pending ON readings (seq) WHERE acked_at IS NULL;
CREATE INDEX IF NOT EXISTS readings_history ON readings (acked_at) WHERE acked_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    body     BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
RACP_CURSOR_PREFIX: Final = "racp_cursor:"
BUSY_TIMEOUT_MS: Final = 30_000
PROBE_TIMEOUT_MS: Final = 200
"""How long a readiness probe waits for the write lock: a write held longer than this means not ready."""
SESSION_KEY: Final = "mqtt_session"


class OutboxError(CarehubError):
    """The outbox file cannot be opened or written (disk full, corrupt file, wrong schema)."""


@dataclass(frozen=True, slots=True)
class OutboxReading:
    """One reading as the outbox stores it: the ``up/readings`` JSON of the reading (``body``) and
    the columns the outbox needs to order, deduplicate and resume by."""

    reading_id: str
    dedup_key: str
    device_serial: str
    measured_at: datetime
    body: bytes
    racp_sequence: int | None = None
    """The glucometer record's sequence number; the device's RACP cursor moves to it on commit."""


@dataclass(frozen=True, slots=True)
class AddResult:
    added: int
    duplicates: int
    """Readings already in the outbox or its history (a replayed device memory, a repeated frame)."""
    refused: int
    """New readings not stored because the outbox is full (``refuse_new``)."""
    dropped: int
    """Oldest unacknowledged readings deleted to make room (``drop_oldest``)."""
    depth: int
    """Unacknowledged readings after the add."""


@dataclass(frozen=True, slots=True)
class PendingReading:
    seq: int
    reading_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class PendingEvent:
    seq: int
    event_id: str
    body: bytes


def _iso(at: datetime) -> str:
    return at.isoformat()


class Outbox:
    """The outbox file. Open it with :meth:`open`; ``close`` is for tidy shutdowns only: nothing
    committed depends on it."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        max_readings: int,
        policy: OverflowPolicy,
        history: timedelta,
        max_events: int,
    ) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.path = Path(conn.execute("PRAGMA database_list").fetchone()[2] or ".")
        self.max_readings = max_readings
        self.policy = policy
        self.history = history
        self.max_events = max_events

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        max_readings: int = 50_000,
        policy: OverflowPolicy = OverflowPolicy.REFUSE_NEW,
        history: timedelta = timedelta(days=7),
        max_events: int = 10_000,
    ) -> Outbox:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(f"{path}: SQLite refused WAL mode ({mode}); put the outbox on a local disk")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise OutboxError(f"{path}: outbox schema {version} is newer than this gateway ({SCHEMA_VERSION})")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the outbox {path}: {exc}") from exc
        return cls(conn, max_readings=max_readings, policy=policy, history=history, max_events=max_events)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def writable(self, *, min_free_bytes: int) -> bool:
        """Readiness (thread-safe, never blocks for long): the file takes a write lock within
        :data:`PROBE_TIMEOUT_MS` (it is open, not read-only, not locked by another process, not
        corrupt) and its disk has ``min_free_bytes`` free for the readings still to come."""
        if not self._lock.acquire(timeout=PROBE_TIMEOUT_MS / 1000):
            return False  # a write is taking that long: the disk is stalled
        try:
            self._conn.execute(f"PRAGMA busy_timeout={PROBE_TIMEOUT_MS}")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("ROLLBACK")
            finally:
                self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            disk = os.statvfs(self.path.parent)
        except (sqlite3.Error, OSError):
            return False
        finally:
            self._lock.release()
        return disk.f_bavail * disk.f_frsize >= min_free_bytes

    def _write(self) -> _Transaction:
        return _Transaction(self._conn, self._lock)

    # readings ------------------------------------------------------------------------------------

    def add(self, readings: Sequence[OutboxReading], *, now: datetime) -> AddResult:
        """Commit ``readings`` (in order) durably. Each glucometer's RACP cursor moves to the last
        sequence number stored or already held, in the same transaction; a refused reading stops
        the cursor for its device, so the record is fetched again next time."""
        added = duplicates = refused = dropped = 0
        cursors: dict[str, int] = {}
        stopped: set[str] = set()
        with self._write() as conn:
            depth = self._depth(conn)
            for reading in readings:
                if reading.device_serial in stopped:
                    refused += 1
                    continue
                if self._known(conn, reading):
                    duplicates += 1
                else:
                    if depth >= self.max_readings:
                        if self.policy is OverflowPolicy.REFUSE_NEW:
                            refused += 1
                            stopped.add(reading.device_serial)
                            continue
                        dropped += conn.execute(
                            "DELETE FROM readings WHERE seq = (SELECT min(seq) FROM readings WHERE acked_at IS NULL)"
                        ).rowcount
                        depth -= 1
                    conn.execute(
                        "INSERT INTO readings (reading_id, dedup_key, device_serial, measured_at, created_at, body)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            reading.reading_id,
                            reading.dedup_key,
                            reading.device_serial,
                            _iso(reading.measured_at),
                            _iso(now),
                            reading.body,
                        ),
                    )
                    added += 1
                    depth += 1
                if reading.racp_sequence is not None:
                    cursors[reading.device_serial] = reading.racp_sequence
            for serial, sequence in cursors.items():
                self._set_state(conn, RACP_CURSOR_PREFIX + serial, str(sequence))
        return AddResult(added, duplicates, refused, dropped, depth)

    @staticmethod
    def _known(conn: sqlite3.Connection, reading: OutboxReading) -> bool:
        row = conn.execute(
            "SELECT 1 FROM readings WHERE dedup_key = ? OR reading_id = ?", (reading.dedup_key, reading.reading_id)
        ).fetchone()
        return row is not None

    @staticmethod
    def _depth(conn: sqlite3.Connection) -> int:
        depth: int = conn.execute("SELECT count(*) FROM readings WHERE acked_at IS NULL").fetchone()[0]
        return depth

    def depth(self) -> int:
        """Unacknowledged readings."""
        with self._lock:
            return self._depth(self._conn)

    def pending(self, *, after_seq: int = 0, limit: int = 50) -> list[PendingReading]:
        """Unacknowledged readings after ``after_seq``, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, reading_id, body FROM readings WHERE acked_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [PendingReading(int(seq), str(rid), bytes(body)) for seq, rid, body in rows]

    def pending_ids(self, reading_ids: Iterable[str]) -> list[PendingReading]:
        """Those of ``reading_ids`` that are still unacknowledged, oldest first."""
        ids = list(reading_ids)
        found: list[PendingReading] = []
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT seq, reading_id, body FROM readings WHERE acked_at IS NULL AND reading_id IN ({marks})",
                    chunk,
                ).fetchall()
                found += [PendingReading(int(seq), str(rid), bytes(body)) for seq, rid, body in rows]
        return sorted(found, key=lambda p: p.seq)

    def acknowledge(self, reading_ids: Iterable[str], *, now: datetime) -> int:
        """The cloud confirmed these readings (accepted, duplicate or rejected): they leave the
        queue and stay as history until :meth:`prune_history`. Returns how many were pending."""
        stamp = _iso(now)
        done = 0
        with self._write() as conn:
            for rid in reading_ids:
                done += conn.execute(
                    "UPDATE readings SET acked_at = ? WHERE reading_id = ? AND acked_at IS NULL", (stamp, rid)
                ).rowcount
        return done

    def requeue_since(self, since: datetime) -> int:
        """``resend_since``: every acknowledged reading measured at or after ``since`` is pending again."""
        with self._write() as conn:
            rows = conn.execute(
                "SELECT seq, measured_at FROM readings WHERE acked_at IS NOT NULL",
            ).fetchall()
            again = [seq for seq, measured in rows if datetime.fromisoformat(measured) >= since]
            for seq in again:
                conn.execute("UPDATE readings SET acked_at = NULL WHERE seq = ?", (seq,))
        return len(again)

    def prune_history(self, *, now: datetime) -> int:
        cutoff = _iso(now - self.history)
        with self._write() as conn:
            return conn.execute("DELETE FROM readings WHERE acked_at IS NOT NULL AND acked_at < ?", (cutoff,)).rowcount

    # events --------------------------------------------------------------------------------------

    def add_events(self, events: Sequence[tuple[str, bytes]]) -> int:
        """Store ``(event_id, body)`` pairs; returns how many old events were dropped to stay bounded."""
        with self._write() as conn:
            conn.executemany("INSERT OR IGNORE INTO events (event_id, body) VALUES (?, ?)", events)
            count: int = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            excess = count - self.max_events
            if excess > 0:
                conn.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)", (excess,))
        return max(0, excess)

    def events(self, limit: int) -> list[PendingEvent]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, event_id, body FROM events ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [PendingEvent(int(seq), str(eid), bytes(body)) for seq, eid, body in rows]

    def delete_events(self, seqs: Iterable[int]) -> None:
        with self._write() as conn:
            conn.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s in seqs])

    # state ---------------------------------------------------------------------------------------

    @staticmethod
    def _set_state(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def get_state(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_state(self, key: str, value: str) -> None:
        with self._write() as conn:
            self._set_state(conn, key, value)

    def delete_state(self, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM state WHERE key = ?", (key,))

    def next_session(self) -> int:
        """Increment and return the persisted MQTT session number (Sparkplug's bdSeq)."""
        with self._write() as conn:
            row = conn.execute("SELECT value FROM state WHERE key = ?", (SESSION_KEY,)).fetchone()
            session = (int(row[0]) if row else 0) + 1
            self._set_state(conn, SESSION_KEY, str(session))
        return session

    def racp_cursor(self, serial: str) -> int | None:
        """The last RACP sequence number of ``serial`` already held in the outbox."""
        value = self.get_state(RACP_CURSOR_PREFIX + serial)
        return None if value is None else int(value)

    def reset_racp_cursor(self, serial: str) -> None:
        self.delete_state(RACP_CURSOR_PREFIX + serial)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` under the outbox lock; rolls back on any error."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        self._conn = conn
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._lock.release()
            raise OutboxError(f"outbox write failed: {exc}") from exc
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as error:
                    self._conn.execute("ROLLBACK")
                    raise OutboxError(f"outbox commit failed: {error}") from error
            else:
                self._conn.execute("ROLLBACK")
        finally:
            self._lock.release()

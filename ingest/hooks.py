"""What other parts of carehub may do inside the ingest transaction, and what they are told.

The ingest writer stores a batch of readings in one transaction. Work that must commit or roll back
with those readings (alert evaluation on the new readings, activating a device on its first accepted
reading) registers a :class:`StoredReadingsHook`. After the readings are inserted and before the
commit, the writer calls each hook with the readings that were newly stored in this transaction:
duplicates (a resend, a device replaying its memory) and refused readings are never passed, so a hook
sees each reading exactly once across redeliveries.

A hook runs on the writer's connection, inside its transaction. If it raises, the transaction rolls
back; the writer reports a database error (``psycopg.OperationalError`` and friends) as transient
and retries the batch, and anything else as a poison input, which the service isolates by splitting
the batch until the one message that fails is dead-lettered whole (its reason names the hook), so a
hook defect never stops the rest of the fleet's readings and never loses one.

The composition root (:mod:`carehub.commands.ingest`) decides which hooks run; ingest/ imports none
of them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    import psycopg


# NamedTuples, not frozen dataclasses: ingest builds one per stored reading and observation, and a
# frozen dataclass's __init__ (one object.__setattr__ per field) cost several times as much. The
# interface is the same: immutable, named fields, keyword construction.
class StoredObservation(NamedTuple):
    """One stored observation row: MDC code, canonical value (or a special) and UCUM unit."""

    metric: int
    value: float | None
    special: str | None
    unit: str


class StoredReading(NamedTuple):
    """A reading newly stored in this transaction, with the identities ingest resolved for it.

    ``observations`` holds only the rows this transaction inserted (a reading whose every row was
    already stored is not a stored reading). Identifiers are canonical UUID text."""

    reading_id: str
    practice_id: str
    patient_id: str
    device_id: str
    hub_id: str | None  # None for a cellular device's reading (a vendor webhook: no hub)
    device_serial: str
    kind: str
    measured_at: datetime
    measured_at_source: str
    received_at: datetime
    from_device_memory: bool
    flags: tuple[str, ...]
    observations: tuple[StoredObservation, ...]


class StoredReadingsHook(Protocol):
    """Work done in the ingest transaction for the readings it stored."""

    @property
    def name(self) -> str:
        """A short stable name used in logs and in the reason of a dead letter it caused."""
        ...

    def on_stored(self, conn: psycopg.Connection[Any], readings: list[StoredReading]) -> None:
        """Called once per transaction with at least one reading, before the commit."""
        ...


class HookFailed(Exception):
    """A hook raised something other than a database error; carries the hook's name."""

    def __init__(self, hook: str, exc: BaseException) -> None:
        super().__init__(f"hook {hook} failed: {type(exc).__name__}: {exc}")
        self.hook = hook

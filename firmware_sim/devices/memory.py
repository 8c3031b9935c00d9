"""Devices that push their stored records: cuffs, scales, thermometers and the simulated oximeter.

Such a device measures on its own, keeps each result in a bounded memory (per user, oldest dropped
first) and, once a collector subscribes to its measurement characteristic, indicates every record not
yet delivered, oldest first, then drops the link (A&D and Omron; reference §4.4, §10). A record counts
as delivered once handed to the radio; a link lost mid-transfer leaves the rest for next time. A
measurement taken while the collector listens goes out live.

The A&D quirk (reference §11): with ``requires_clock_before_data`` the device releases nothing until
the collector has written its clock in this connection.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from firmware_sim.devices.gatt_table import Pairing, Security, TimeSetting
from firmware_sim.devices.outgoing import Outgoing
from firmware_sim.devices.peripheral import SimulatedPeripheral
from firmware_sim.errors import SimulationError
from firmware_sim.intent import EncodedMeasurement
from firmware_sim.physiology import Physiology

S = TypeVar("S")

MEMORY_PROCEDURE = "memory transfer"


def and_style() -> dict[str, Any]:
    """Options shared by the A&D presets (reference §11): a Just Works bond made once in pairing mode,
    the clock set through a Date Time 0x2A08 inside the health service, and no data released until
    the collector has written that clock in the current connection."""
    return {
        "security": Security(Pairing.JUST_WORKS, bonding_required=True),
        "time_setting": TimeSetting.DATE_TIME_IN_PROFILE,
        "requires_clock_before_data": True,
    }


@dataclass
class StoredRecord(Generic[S]):
    sample: S
    user_id: int
    sent: bool = False


class RecordMemory(Generic[S]):
    """Stored measurements, oldest first, at most ``capacity_per_user`` per user."""

    def __init__(self, capacity_per_user: int) -> None:
        self.capacity_per_user = capacity_per_user
        self.records: list[StoredRecord[S]] = []

    def store(self, sample: S, user_id: int, *, sent: bool) -> StoredRecord[S]:
        record = StoredRecord(sample, user_id, sent)
        self.records.append(record)
        mine = [r for r in self.records if r.user_id == user_id]
        if len(mine) > self.capacity_per_user:
            self.records.remove(mine[0])
        return record

    def unsent(self) -> list[StoredRecord[S]]:
        return [r for r in self.records if not r.sent]

    def forget_delivery(self) -> None:
        """Mark everything unsent, so the next transfer repeats it (the REPLAY fault)."""
        for record in self.records:
            record.sent = False


class PushMemoryPeripheral(SimulatedPeripheral, Generic[S]):
    def __init__(
        self,
        *,
        users: Mapping[int, Physiology],
        memory_capacity: int,
        requires_clock_before_data: bool = False,
        disconnect_after_transfer: bool = True,
        **kwargs: Any,
    ) -> None:
        if not users:
            raise SimulationError("a device has at least one user")
        self.users = dict(users)
        self.active_user = min(self.users)
        self.memory: RecordMemory[S] = RecordMemory(memory_capacity)
        self.requires_clock_before_data = requires_clock_before_data
        self.disconnect_after_transfer = disconnect_after_transfer
        super().__init__(**kwargs)

    @property
    @abstractmethod
    def measurement_characteristic(self) -> str: ...

    @property
    def physiology(self) -> Physiology:
        """The patient behind the active user."""
        return self.users[self.active_user]

    def select_user(self, user_id: int) -> None:
        """The user button: following measurements belong to ``user_id``."""
        if user_id not in self.users:
            raise SimulationError(f"this device has users {sorted(self.users)}, not {user_id}")
        self.active_user = user_id

    @abstractmethod
    def _sample(self, at: datetime) -> S:
        """Take a measurement of the active user: the sample as the firmware stores it."""

    @abstractmethod
    def _encode(self, sample: S, *, from_memory: bool) -> EncodedMeasurement: ...

    def _live_frames(self, sample: S, at: datetime) -> list[Outgoing]:
        """Display-only frames sent while measuring (cuff pressure, unstable weight)."""
        return []

    @property
    def has_unsent_data(self) -> bool:
        """What a device signals in its advertising (A&D "cooperation mode" means nothing to send)."""
        return bool(self.memory.unsent())

    def _released(self) -> bool:
        link = self.link
        if link is None or not self.is_subscribed(self.measurement_characteristic):
            return False
        return link.clock_written or not self.requires_clock_before_data

    def _measure(self, at: datetime) -> list[Outgoing]:
        sample = self._sample(at)
        live = self._released() and not self.pending_frames
        self.memory.store(sample, self.active_user, sent=live)
        if not live:
            return []
        frames = [*self._live_frames(sample, at), self._frame(self._encode(sample, from_memory=False))]
        self._done_sending()
        return frames

    def _release_memory(self) -> None:
        if not self._released() or self.procedure_in_progress(MEMORY_PROCEDURE):
            return
        for record in self.memory.unsent():
            frame = self._frame(self._encode(record.sample, from_memory=True))
            self._enqueue(frame, on_sent=_marker(record), procedure=MEMORY_PROCEDURE)
        if not self.pending_frames:
            self._done_sending()

    def _done_sending(self) -> None:
        """Nothing left to send: a device that ends the link after a transfer asks for it now."""
        if self.disconnect_after_transfer and self.link is not None:
            self.link.close_requested = True

    def _on_subscribed(self, characteristic: str, at: datetime) -> None:
        if characteristic == self.measurement_characteristic:
            self._announce_time(at)
            self._release_memory()

    def _on_clock_written(self, at: datetime) -> None:
        self._release_memory()

    def _on_drained(self, at: datetime) -> None:
        self._done_sending()

    def _replay_stored_records(self, at: datetime) -> None:
        self.memory.forget_delivery()


def _marker(record: StoredRecord[Any]) -> Callable[[], None]:
    def mark() -> None:
        record.sent = True

    return mark

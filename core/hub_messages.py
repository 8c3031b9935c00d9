"""The hub ↔ cloud control-plane messages on MQTT: presence, events, configuration and commands.

The readings batch and its acknowledgement live in :mod:`ingest.wire`; everything else a hub and the
cloud say to each other is defined here, once, for the gateway (which publishes status, events,
reported configuration and command results, and consumes desired configuration and commands), for
provisioning (which publishes desired configuration and commands) and for the cloud services that
consume presence and events. Byte-level description and examples: ``docs/wire-formats/mqtt.md``;
reasons: DESIGN.md §3 and ``reference/cellular-and-logistics.md`` §4.2.

Rules every message follows:
- JSON objects, UTF-8, a schema version ``v`` (1). Unknown keys are ignored so either side can add
  optional fields first during a rolling upgrade; a different ``v`` is refused.
- No patient data: devices are named by serial and BLE address, patients never appear; free text is
  bounded and must not carry PHI (it is logged).
- Times are RFC 3339 with an offset; the cloud stores UTC."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from core.domain import DeviceKind
from core.errors import CarehubError

SERIAL_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
BLE_ADDRESS_PATTERN = r"^([0-9A-F]{2}:){5}[0-9A-F]{2}$"
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
DETAIL_MAX_CHARS = 500
MAX_EVENTS_PER_MESSAGE = 100
MAX_WHITELIST_ENTRIES = 32

Serial = Annotated[StrictStr, Field(pattern=SERIAL_PATTERN)]
BleAddress = Annotated[StrictStr, Field(pattern=BLE_ADDRESS_PATTERN)]
MessageId = Annotated[StrictStr, Field(pattern=ID_PATTERN)]
Detail = Annotated[StrictStr, Field(max_length=DETAIL_MAX_CHARS)]


class InvalidHubMessage(CarehubError):
    """A control-plane message is not valid JSON or does not match its schema."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


M = TypeVar("M", bound=_Message)


def parse_message(model: type[M], payload: bytes) -> M:
    """Validate ``payload`` as ``model``; any problem is an :class:`InvalidHubMessage` naming it."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise InvalidHubMessage(f"invalid {model.__name__}: {problems}"[:1000]) from exc


# up/status -----------------------------------------------------------------------------------------


class HubState(StrEnum):
    ONLINE = "online"  # published by the hub right after it connects
    OFFLINE = "offline"  # published by the hub before a graceful disconnect
    LOST = "lost"  # the Last Will: the broker publishes it when the hub vanishes


class ClockState(StrEnum):
    NTP_SYNCED = "ntp_synced"
    UNSYNCED = "unsynced"


class HubStatus(_Message):
    """``up/status`` (QoS 1, retained; the same topic carries the Last Will).

    ``session`` increases by one on every connect and is persisted on the hub, so a consumer can
    ignore a late Will of an older session after the hub has already come back."""

    state: HubState
    session: Annotated[StrictInt, Field(ge=0)]
    ts: AwareDatetime | None = None  # absent in the Will (written at connect time, sent later)
    fw: Annotated[StrictStr, Field(max_length=32)] | None = None
    config_version: Annotated[StrictInt, Field(ge=0)] | None = None
    clock: ClockState | None = None
    outbox_depth: Annotated[StrictInt, Field(ge=0)] | None = None


# up/events -----------------------------------------------------------------------------------------


class HubEventType(StrEnum):
    DEVICE_SEEN = "device_seen"  # a whitelisted device advertised
    DEVICE_CONNECTED = "device_connected"
    DEVICE_DISCONNECTED = "device_disconnected"
    DEVICE_PAIRED = "device_paired"
    DEVICE_UNPAIRED = "device_unpaired"
    DEVICE_NOT_WHITELISTED = "device_not_whitelisted"  # a health device that is not this patient's (rate-limited)
    DEVICE_BATTERY = "device_battery"  # battery level read (battery_pct set)
    DEVICE_CLOCK = "device_clock"  # clock set or offset measured (clock_offset_s set)
    DEVICE_ERROR = "device_error"  # connect/pair/download failed after retries (detail set)
    # A frame no decoder accepts (typed error in detail, the bytes in frame_hex): the cloud stores it as
    # a dead letter, because a garbage frame is never silently dropped.
    FRAME_REJECTED = "frame_rejected"
    RECORDS_DOWNLOADED = "records_downloaded"  # RACP download finished (count set)
    OUTBOX_HIGH_WATER = "outbox_high_water"  # the hub's outbox passed its warning depth (count set)
    OUTBOX_OVERFLOW = "outbox_overflow"  # the outbox is full: new readings are at risk (count set)
    CONFIG_REJECTED = "config_rejected"  # a desired config could not be applied (detail set)
    # Device Information serial differs from the whitelisted serial: refused, never bonded or read (detail set)
    DEVICE_SERIAL_MISMATCH = "device_serial_mismatch"


class HubEvent(_Message):
    """One event; ``event_id`` is generated once on the hub (UUIDv7/ULID) so a resend is recognised."""

    event_id: MessageId
    type: HubEventType
    at: AwareDatetime
    device_serial: Serial | None = None
    device_address: BleAddress | None = None
    battery_pct: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    clock_offset_s: StrictFloat | StrictInt | None = None
    rssi_dbm: Annotated[StrictInt, Field(ge=-127, le=20)] | None = None
    count: Annotated[StrictInt, Field(ge=0)] | None = None
    detail: Detail | None = None
    characteristic: Annotated[StrictStr, Field(pattern=r"^[0-9a-f-]{4,36}$")] | None = None
    frame_hex: Annotated[StrictStr, Field(pattern=r"^([0-9a-f]{2}){0,512}$")] | None = None


class HubEvents(_Message):
    """``up/events`` (QoS 1, not retained): a batch of events."""

    session: Annotated[StrictInt, Field(ge=0)]
    events: Annotated[list[HubEvent], Field(min_length=1, max_length=MAX_EVENTS_PER_MESSAGE)]


# down/config/desired and up/config/reported --------------------------------------------------------


class SecurityMode(StrEnum):
    NONE = "none"
    BONDED = "bonded"  # the device needs an encrypted, bonded link before it releases data


class WhitelistEntry(_Message):
    """One device this hub may talk to. ``assignment`` is an opaque id of the device↔hub assignment
    (never a patient identifier); it changes when the device is reassigned."""

    serial: Serial
    kind: DeviceKind
    address: BleAddress | None = None  # BLE devices; upper-case, colon-separated
    assignment: MessageId
    security: SecurityMode = SecurityMode.NONE
    set_clock: StrictBool = True  # write the device clock on connect (Current Time / Date Time)
    model: Annotated[StrictStr, Field(max_length=64)] | None = None  # selects device quirks
    # Passkey-entry bonding (Omron cuffs, Accu-Chek meters): the 6 digits on the device's label, which the
    # hub's pairing agent enters. Not patient data; never logged.
    passkey: Annotated[StrictStr, Field(pattern=r"^[0-9]{6}$")] | None = None


class UploadSettings(_Message):
    max_batch: Annotated[StrictInt, Field(ge=1, le=500)] = 50
    max_delay_s: Annotated[StrictFloat | StrictInt, Field(ge=0, le=3600)] = 30


class HubConfig(_Message):
    """``down/config/desired`` (QoS 1, retained): the whole desired configuration, versioned so a hub
    applies it idempotently and reports the version it runs. ``version`` only ever increases."""

    version: Annotated[StrictInt, Field(ge=1)]
    issued_at: AwareDatetime
    whitelist: Annotated[list[WhitelistEntry], Field(max_length=MAX_WHITELIST_ENTRIES)]
    upload: UploadSettings = UploadSettings()


class ReportedConfig(_Message):
    """``up/config/reported`` (QoS 1, retained): the configuration version the hub actually runs."""

    version: Annotated[StrictInt, Field(ge=0)]
    applied_at: AwareDatetime
    errors: Annotated[list[Detail], Field(max_length=20)] = Field(default_factory=list)


# down/cmd and up/cmd/result ------------------------------------------------------------------------


class CommandType(StrEnum):
    RESEND_SINCE = "resend_since"  # republish outbox history from `since` (readings the cloud lost)
    TIME_SYNC = "time_sync"  # set every device clock at its next connection
    UNPAIR = "unpair"  # forget the bond with `device_serial`
    REBIRTH = "rebirth"  # republish status and reported config
    DOWNLOAD_ALL = "download_all"  # RACP: fetch every stored record of `device_serial` again


class HubCommand(_Message):
    """``down/cmd`` (QoS 1, MQTT 5 Message Expiry set to match ``expires_at``). A hub executes a
    command at most once per ``cmd_id`` and ignores it after ``expires_at``."""

    cmd_id: MessageId
    type: CommandType
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    device_serial: Serial | None = None
    since: AwareDatetime | None = None


class CommandOutcome(StrEnum):
    OK = "ok"
    ERROR = "error"
    EXPIRED = "expired"
    UNSUPPORTED = "unsupported"


class CommandResult(_Message):
    """``up/cmd/result`` (QoS 1): what became of a command."""

    cmd_id: MessageId
    result: CommandOutcome
    at: AwareDatetime
    detail: Detail | None = None

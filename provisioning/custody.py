"""Device custody (where a unit is and who answers for it) and engagement (is data flowing), kept as
two separate state variables (``reference/cellular-and-logistics.md`` §3.1).

Custody is a pure state machine: :data:`TRANSITIONS` maps ``(state, action)`` to the next state and
is the only source of legality; every action also names the evidence it needs (:data:`REQUIRED_EVIDENCE`,
its guard), so an auditor finds a tracking number on every label, a carrier event on every delivery
and a reason on every loss. :func:`apply` returns the :class:`CustodyEvent` to record or raises
:class:`IllegalTransition`. Persistence lives in :mod:`provisioning.inventory`.

Engagement is derived, never stored as custody: :func:`engagement` classifies a delivered unit from
its last reading and last heartbeat at an injected ``now``.

Decisions beyond the §3.1 diagram (written down here so reviewers can disagree precisely):
- ``activate`` (first accepted device reading) is legal from ASSIGNED (handed over in clinic),
  LABEL_CREATED and IN_TRANSIT (the carrier's delivered scan often lags the patient) as well as
  DELIVERED; a reading is stronger evidence of receipt than a scan.
- A unit is ``lost`` also on its way back (REPLACED, RETURN_REQUESTED, RETURN_IN_TRANSIT, UNENROLLED,
  FAULTY): a patient who never sends the old unit back is the common case.
- UNENROLLED never goes straight to IN_STOCK: a unit that was in a home is returned and quarantined
  before it is issued again (§3.2: never re-issue a unit still linked to the previous patient).
- LOST and RETIRED units are *blocked*: ingest quarantines anything they send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from core.errors import CarehubError


class CustodyState(StrEnum):
    IN_STOCK = "in_stock"
    ASSIGNED = "assigned"
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    DELIVERY_EXCEPTION = "delivery_exception"
    RETURN_TO_SENDER = "return_to_sender"
    DELIVERED = "delivered"
    ACTIVATED = "activated"
    FAULTY = "faulty"
    REPLACED = "replaced"
    UNENROLLED = "unenrolled"
    RETURN_REQUESTED = "return_requested"
    RETURN_IN_TRANSIT = "return_in_transit"
    RETURNED = "returned"
    QUARANTINE = "quarantine"
    REFURBISHED = "refurbished"
    RETIRED = "retired"
    LOST = "lost"


class CustodyAction(StrEnum):
    ASSIGN = "assign"
    CANCEL = "cancel"
    CREATE_LABEL = "create_label"
    CARRIER_SCAN = "carrier_scan"
    DELIVERY_EXCEPTION = "delivery_exception"
    RESHIP = "reship"
    RETURN_TO_SENDER = "return_to_sender"
    DELIVER = "deliver"
    ACTIVATE = "activate"
    REPORT_FAULTY = "report_faulty"
    SHIP_REPLACEMENT = "ship_replacement"
    UNENROLL = "unenroll"
    REQUEST_RETURN = "request_return"
    SHIP_RETURN = "ship_return"
    RECEIVE_RETURN = "receive_return"
    QUARANTINE = "quarantine"
    REFURBISH = "refurbish"
    RESTOCK = "restock"
    RETIRE = "retire"
    REPORT_LOST = "report_lost"


S = CustodyState
A = CustodyAction

TRANSITIONS: Mapping[tuple[CustodyState, CustodyAction], CustodyState] = {
    (S.IN_STOCK, A.ASSIGN): S.ASSIGNED,
    (S.IN_STOCK, A.RETIRE): S.RETIRED,
    (S.ASSIGNED, A.CANCEL): S.IN_STOCK,
    (S.ASSIGNED, A.CREATE_LABEL): S.LABEL_CREATED,
    (S.ASSIGNED, A.ACTIVATE): S.ACTIVATED,
    (S.LABEL_CREATED, A.CANCEL): S.IN_STOCK,  # label voided before the carrier took the parcel
    (S.LABEL_CREATED, A.CARRIER_SCAN): S.IN_TRANSIT,
    (S.LABEL_CREATED, A.DELIVERY_EXCEPTION): S.DELIVERY_EXCEPTION,
    (S.LABEL_CREATED, A.DELIVER): S.DELIVERED,
    (S.LABEL_CREATED, A.ACTIVATE): S.ACTIVATED,
    (S.IN_TRANSIT, A.DELIVERY_EXCEPTION): S.DELIVERY_EXCEPTION,
    (S.IN_TRANSIT, A.RETURN_TO_SENDER): S.RETURN_TO_SENDER,
    (S.IN_TRANSIT, A.DELIVER): S.DELIVERED,
    (S.IN_TRANSIT, A.ACTIVATE): S.ACTIVATED,
    (S.IN_TRANSIT, A.REPORT_LOST): S.LOST,
    (S.DELIVERY_EXCEPTION, A.CARRIER_SCAN): S.IN_TRANSIT,  # the carrier resolved it
    (S.DELIVERY_EXCEPTION, A.RESHIP): S.LABEL_CREATED,
    (S.DELIVERY_EXCEPTION, A.RETURN_TO_SENDER): S.RETURN_TO_SENDER,
    (S.DELIVERY_EXCEPTION, A.DELIVER): S.DELIVERED,
    (S.DELIVERY_EXCEPTION, A.REPORT_LOST): S.LOST,
    (S.RETURN_TO_SENDER, A.RECEIVE_RETURN): S.RETURNED,
    (S.RETURN_TO_SENDER, A.REPORT_LOST): S.LOST,
    (S.DELIVERED, A.ACTIVATE): S.ACTIVATED,
    (S.DELIVERED, A.REPORT_FAULTY): S.FAULTY,
    (S.DELIVERED, A.UNENROLL): S.UNENROLLED,
    (S.DELIVERED, A.REPORT_LOST): S.LOST,
    (S.ACTIVATED, A.REPORT_FAULTY): S.FAULTY,
    (S.ACTIVATED, A.UNENROLL): S.UNENROLLED,
    (S.ACTIVATED, A.REPORT_LOST): S.LOST,
    (S.FAULTY, A.SHIP_REPLACEMENT): S.REPLACED,
    (S.FAULTY, A.REPORT_LOST): S.LOST,
    (S.REPLACED, A.REQUEST_RETURN): S.RETURN_REQUESTED,
    (S.REPLACED, A.REPORT_LOST): S.LOST,
    (S.UNENROLLED, A.REQUEST_RETURN): S.RETURN_REQUESTED,
    (S.UNENROLLED, A.REPORT_LOST): S.LOST,
    (S.RETURN_REQUESTED, A.SHIP_RETURN): S.RETURN_IN_TRANSIT,
    (S.RETURN_REQUESTED, A.RECEIVE_RETURN): S.RETURNED,  # dropped off at the practice
    (S.RETURN_REQUESTED, A.REPORT_LOST): S.LOST,
    (S.RETURN_IN_TRANSIT, A.RECEIVE_RETURN): S.RETURNED,
    (S.RETURN_IN_TRANSIT, A.REPORT_LOST): S.LOST,
    (S.RETURNED, A.QUARANTINE): S.QUARANTINE,
    (S.QUARANTINE, A.REFURBISH): S.REFURBISHED,
    (S.QUARANTINE, A.RETIRE): S.RETIRED,
    (S.REFURBISHED, A.RESTOCK): S.IN_STOCK,
    (S.LOST, A.RECEIVE_RETURN): S.RETURNED,  # found
    (S.LOST, A.RETIRE): S.RETIRED,  # written off, serial/IMEI stays blocked
}

# Evidence keys an action must carry (its guard). A reason code is always recorded; these are extra.
REQUIRED_EVIDENCE: Mapping[CustodyAction, frozenset[str]] = {
    A.ASSIGN: frozenset({"patient_id"}),
    A.CREATE_LABEL: frozenset({"carrier", "tracking_number"}),
    A.RESHIP: frozenset({"carrier", "tracking_number"}),
    A.CARRIER_SCAN: frozenset({"carrier_event_id"}),
    A.DELIVERY_EXCEPTION: frozenset({"carrier_event_id"}),
    A.RETURN_TO_SENDER: frozenset({"carrier_event_id"}),
    A.DELIVER: frozenset({"carrier_event_id"}),
    A.ACTIVATE: frozenset({"reading_id"}),
    A.SHIP_REPLACEMENT: frozenset({"replacement_serial"}),
}

# Actions that need a reason code chosen by a person (the others have an obvious one).
REASON_REQUIRED: frozenset[CustodyAction] = frozenset(
    {A.CANCEL, A.REPORT_FAULTY, A.REPORT_LOST, A.RETIRE, A.UNENROLL, A.RESHIP}
)

BLOCKED_STATES: frozenset[CustodyState] = frozenset({S.LOST, S.RETIRED})
# States in which a unit is (or is on its way to be) with a patient.
WITH_PATIENT_STATES: frozenset[CustodyState] = frozenset(
    {S.ASSIGNED, S.LABEL_CREATED, S.IN_TRANSIT, S.DELIVERY_EXCEPTION, S.DELIVERED, S.ACTIVATED, S.FAULTY}
)
TERMINAL_STATES: frozenset[CustodyState] = frozenset({S.RETIRED})


class CustodyError(CarehubError):
    """A custody change was refused."""


class IllegalTransition(CustodyError):
    """The action is not allowed from the unit's current state."""

    def __init__(self, state: CustodyState, action: CustodyAction) -> None:
        allowed = ", ".join(sorted(a.value for a in allowed_actions(state))) or "none (terminal state)"
        super().__init__(f"cannot {action.value} a device that is {state.value}; allowed: {allowed}")
        self.state = state
        self.action = action


class MissingEvidence(CustodyError):
    """The action lacks evidence or a reason an auditor will ask for."""


@dataclass(frozen=True, slots=True)
class CustodyEvent:
    """One recorded transition: who did what, when, why and on what evidence."""

    action: CustodyAction
    from_state: CustodyState
    to_state: CustodyState
    at: datetime
    actor_id: UUID | None  # a staff user; None when the system acted (carrier webhook, ingest)
    actor_kind: str  # 'user', 'carrier', 'ingest', 'system'
    reason: str
    evidence: Mapping[str, str] = field(default_factory=dict)


def allowed_actions(state: CustodyState) -> frozenset[CustodyAction]:
    return frozenset(action for (source, action) in TRANSITIONS if source is state)


def next_state(state: CustodyState, action: CustodyAction) -> CustodyState:
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise IllegalTransition(state, action) from None


def apply(
    state: CustodyState,
    action: CustodyAction,
    *,
    at: datetime,
    actor_id: UUID | None,
    actor_kind: str,
    reason: str | None = None,
    evidence: Mapping[str, str] | None = None,
) -> CustodyEvent:
    """The event that moves a unit from ``state`` by ``action``, or a typed refusal."""
    target = next_state(state, action)
    evidence = dict(evidence or {})
    missing = sorted(key for key in REQUIRED_EVIDENCE.get(action, frozenset()) if not evidence.get(key))
    if missing:
        raise MissingEvidence(f"{action.value} needs evidence: {', '.join(missing)}")
    if action in REASON_REQUIRED and not reason:
        raise MissingEvidence(f"{action.value} needs a reason code")
    if at.tzinfo is None:
        raise CustodyError("custody events need an aware timestamp")
    return CustodyEvent(action, state, target, at, actor_id, actor_kind, reason or action.value, evidence)


def replay(initial: CustodyState, events: list[CustodyEvent]) -> CustodyState:
    """The state a history leads to; raises if the history is not a chain of legal transitions
    (an audit check that the recorded events explain the current state)."""
    state = initial
    for event in events:
        if event.from_state is not state or next_state(state, event.action) is not event.to_state:
            raise CustodyError(
                f"history breaks at {event.action.value} from {event.from_state.value} (was {state.value})"
            )
        state = event.to_state
    return state


# Engagement ----------------------------------------------------------------------------------------


class Engagement(StrEnum):
    NOT_DEPLOYED = "not_deployed"  # not with a patient: engagement does not apply
    NEVER_USED = "never_used"  # delivered or activated, no reading yet
    ACTIVE = "active"  # a reading within active_days
    LAPSING = "lapsing"  # last reading between active_days and silent_days ago
    SILENT = "silent"  # no reading for more than silent_days, heartbeats still arriving: patient not using it
    SILENT_NO_HEARTBEAT = "silent_no_heartbeat"  # nothing at all: device, battery or coverage problem


@dataclass(frozen=True, slots=True)
class EngagementPolicy:
    active_days: int = 3
    silent_days: int = 7
    heartbeat_days: int = 2


def engagement(
    state: CustodyState,
    *,
    last_reading_at: datetime | None,
    last_heartbeat_at: datetime | None,
    now: datetime,
    policy: EngagementPolicy = EngagementPolicy(),
    heartbeats_known: bool = True,
) -> Engagement:
    """``heartbeats_known=False`` when the caller has no heartbeat source for the unit: a silent
    unit is then reported ``silent`` without claiming the device itself has gone quiet."""
    if state not in (S.DELIVERED, S.ACTIVATED, S.FAULTY):
        return Engagement.NOT_DEPLOYED
    if last_reading_at is None:
        return Engagement.NEVER_USED
    age = now - last_reading_at
    if age <= timedelta(days=policy.active_days):
        return Engagement.ACTIVE
    if age <= timedelta(days=policy.silent_days):
        return Engagement.LAPSING
    latest_signal = max(last_reading_at, last_heartbeat_at or last_reading_at)
    if not heartbeats_known or now - latest_signal <= timedelta(days=policy.heartbeat_days):
        return Engagement.SILENT
    return Engagement.SILENT_NO_HEARTBEAT

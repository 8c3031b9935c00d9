"""The custody state machine, generated from its own transition table: every legal pair moves to
the table's target and records an event, every other pair is refused, and any walk through the
machine leaves a history that replays to the state it reached."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.custody import (
    BLOCKED_STATES,
    REASON_REQUIRED,
    REQUIRED_EVIDENCE,
    TRANSITIONS,
    CustodyAction,
    CustodyError,
    CustodyEvent,
    CustodyState,
    Engagement,
    IllegalTransition,
    MissingEvidence,
    allowed_actions,
    apply,
    engagement,
    replay,
)

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ACTOR = UUID("01890000-0000-7000-8000-000000000001")


def full_evidence(action: CustodyAction) -> dict[str, str]:
    return {key: f"ev-{key}" for key in REQUIRED_EVIDENCE.get(action, frozenset())}


def do(state: CustodyState, action: CustodyAction, at: datetime = AT) -> CustodyEvent:
    return apply(state, action, at=at, actor_id=ACTOR, actor_kind="user", reason="r", evidence=full_evidence(action))


@given(st.sampled_from(CustodyState), st.sampled_from(CustodyAction))
def test_every_pair_is_either_the_tables_transition_or_refused(state: CustodyState, action: CustodyAction) -> None:
    target = TRANSITIONS.get((state, action))
    if target is None:
        with pytest.raises(IllegalTransition) as refused:
            do(state, action)
        assert state.value in str(refused.value)
        assert action.value in str(refused.value)
    else:
        event = do(state, action)
        assert (event.from_state, event.to_state, event.action) == (state, target, action)
        assert event.actor_id == ACTOR
        assert event.at == AT
        assert dict(event.evidence) == full_evidence(action)


def test_every_legal_transition_once() -> None:
    for (state, action), target in TRANSITIONS.items():
        assert do(state, action).to_state is target


@given(st.lists(st.sampled_from(CustodyAction), max_size=60))
def test_walk_history_replays_to_the_state_reached(actions: list[CustodyAction]) -> None:
    state = CustodyState.IN_STOCK
    history: list[CustodyEvent] = []
    for n, action in enumerate(actions):
        if action in allowed_actions(state):
            event = do(state, action, AT + timedelta(minutes=n))
            history.append(event)
            state = event.to_state
        else:
            with pytest.raises(IllegalTransition):
                do(state, action)
    assert replay(CustodyState.IN_STOCK, history) is state
    assert len(history) == sum(1 for _ in history)


def test_replay_refuses_a_history_with_a_gap() -> None:
    assign = do(CustodyState.IN_STOCK, CustodyAction.ASSIGN)
    deliver = do(CustodyState.IN_TRANSIT, CustodyAction.DELIVER)
    with pytest.raises(CustodyError):
        replay(CustodyState.IN_STOCK, [assign, deliver])


def _reachable(start: CustodyState) -> set[CustodyState]:
    seen = {start}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        for action in allowed_actions(state):
            target = TRANSITIONS[(state, action)]
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def test_every_state_is_reachable_from_stock_and_no_unit_is_stranded() -> None:
    assert _reachable(CustodyState.IN_STOCK) == set(CustodyState)
    for state in CustodyState:
        ends = _reachable(state)
        assert CustodyState.IN_STOCK in ends or CustodyState.RETIRED in ends, state


def test_a_used_unit_cannot_go_back_to_stock_without_quarantine() -> None:
    for state in (CustodyState.UNENROLLED, CustodyState.RETURNED, CustodyState.REPLACED, CustodyState.ACTIVATED):
        assert CustodyAction.RESTOCK not in allowed_actions(state)
    path = [
        CustodyAction.REQUEST_RETURN,
        CustodyAction.RECEIVE_RETURN,
        CustodyAction.QUARANTINE,
        CustodyAction.REFURBISH,
        CustodyAction.RESTOCK,
    ]
    state = CustodyState.UNENROLLED
    for action in path:
        state = do(state, action).to_state
    assert state is CustodyState.IN_STOCK


def test_lost_is_reachable_from_the_states_the_reference_names_and_blocks() -> None:
    for state in (CustodyState.IN_TRANSIT, CustodyState.DELIVERED, CustodyState.ACTIVATED):
        assert do(state, CustodyAction.REPORT_LOST).to_state in BLOCKED_STATES
    assert do(CustodyState.LOST, CustodyAction.RETIRE).to_state is CustodyState.RETIRED
    assert do(CustodyState.LOST, CustodyAction.RECEIVE_RETURN).to_state is CustodyState.RETURNED


@pytest.mark.parametrize("action", sorted(REQUIRED_EVIDENCE))
def test_actions_without_their_evidence_are_refused(action: CustodyAction) -> None:
    state = next(s for (s, a) in TRANSITIONS if a is action)
    with pytest.raises(MissingEvidence, match=action.value):
        apply(state, action, at=AT, actor_id=ACTOR, actor_kind="user", reason="r", evidence={})


@pytest.mark.parametrize("action", sorted(REASON_REQUIRED))
def test_actions_without_a_reason_are_refused(action: CustodyAction) -> None:
    state = next(s for (s, a) in TRANSITIONS if a is action)
    with pytest.raises(MissingEvidence, match="reason"):
        apply(state, action, at=AT, actor_id=ACTOR, actor_kind="user", evidence=full_evidence(action))


def test_naive_time_is_refused() -> None:
    with pytest.raises(CustodyError):
        apply(
            CustodyState.IN_STOCK,
            CustodyAction.ASSIGN,
            at=datetime(2026, 1, 1),
            actor_id=None,
            actor_kind="system",
            evidence={"patient_id": "p"},
        )


NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "reading_age_days", "heartbeat_age_days", "expected"),
    [
        (CustodyState.IN_STOCK, 0, None, Engagement.NOT_DEPLOYED),
        (CustodyState.IN_TRANSIT, None, None, Engagement.NOT_DEPLOYED),
        (CustodyState.DELIVERED, None, None, Engagement.NEVER_USED),
        (CustodyState.ACTIVATED, 0, None, Engagement.ACTIVE),
        (CustodyState.ACTIVATED, 3, None, Engagement.ACTIVE),
        (CustodyState.ACTIVATED, 3.5, None, Engagement.LAPSING),
        (CustodyState.ACTIVATED, 7, None, Engagement.LAPSING),
        (CustodyState.ACTIVATED, 8, 1, Engagement.SILENT),
        (CustodyState.ACTIVATED, 8, 5, Engagement.SILENT_NO_HEARTBEAT),
        (CustodyState.ACTIVATED, 8, None, Engagement.SILENT_NO_HEARTBEAT),
        (CustodyState.FAULTY, 1, None, Engagement.ACTIVE),
    ],
)
def test_engagement_vectors(
    state: CustodyState, reading_age_days: float | None, heartbeat_age_days: float | None, expected: Engagement
) -> None:
    reading = None if reading_age_days is None else NOW - timedelta(days=reading_age_days)
    heartbeat = None if heartbeat_age_days is None else NOW - timedelta(days=heartbeat_age_days)
    assert engagement(state, last_reading_at=reading, last_heartbeat_at=heartbeat, now=NOW) is expected


def test_without_a_heartbeat_source_silence_is_not_blamed_on_the_device() -> None:
    old = NOW - timedelta(days=9)
    assert engagement(CustodyState.ACTIVATED, last_reading_at=old, last_heartbeat_at=None, now=NOW) is (
        Engagement.SILENT_NO_HEARTBEAT
    )
    assert (
        engagement(CustodyState.ACTIVATED, last_reading_at=old, last_heartbeat_at=None, now=NOW, heartbeats_known=False)
        is Engagement.SILENT
    )

"""Refusals of provisioning's and billing's services as HTTP problems: an unknown record is 404, a
state-machine or uniqueness conflict 409, any other refusal of the input 422, each with the service's
own message as the ``detail`` (those messages carry no patient data). The table is ordered: the first
class that matches wins, so a subclass is listed before its base."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import HTTPException

from api.problems import PROBLEM_RESPONSES
from billing.care_time import CareTimeConflict, UnknownEntry
from core.errors import CarehubError
from provisioning.custody import IllegalTransition
from provisioning.enrollment import (
    AlreadyEnrolled,
    ConditionAlreadyRecorded,
    ConditionAlreadyResolved,
    InvalidCondition,
    NoConsentInForce,
    NoOpenEnrollment,
    NotEligible,
)
from provisioning.hub_config import HubConfigError
from provisioning.registry import OverlappingAssignment, UnknownRecord
from provisioning.replacement import ReplacementError
from provisioning.shipping import ShippingError

NOT_FOUND = 404
CONFLICT = 409
UNPROCESSABLE = 422

STATUS_OF: tuple[tuple[type[CarehubError], int], ...] = (
    (UnknownRecord, NOT_FOUND),
    (UnknownEntry, NOT_FOUND),
    (IllegalTransition, CONFLICT),
    (OverlappingAssignment, CONFLICT),
    (ShippingError, CONFLICT),
    (ReplacementError, CONFLICT),
    (HubConfigError, CONFLICT),
    (InvalidCondition, UNPROCESSABLE),
    (ConditionAlreadyRecorded, CONFLICT),
    (ConditionAlreadyResolved, CONFLICT),
    (NoConsentInForce, CONFLICT),
    (NotEligible, CONFLICT),
    (AlreadyEnrolled, CONFLICT),
    (NoOpenEnrollment, CONFLICT),
    (CareTimeConflict, CONFLICT),
)


def status_of(exc: CarehubError) -> int:
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return UNPROCESSABLE


@contextmanager
def service_errors() -> Iterator[None]:
    """Run service calls; a :class:`CarehubError` leaves as the matching problem (and, raised inside
    ``scope.transaction()``, rolls the whole request back)."""
    try:
        yield
    except CarehubError as exc:
        raise HTTPException(status_code=status_of(exc), detail=str(exc)) from exc


_PROBLEM_CONTENT = PROBLEM_RESPONSES["4XX"]["content"]
CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such record in the user's practice", "content": _PROBLEM_CONTENT},
    409: {
        "description": "The state (custody, shipment, entry) does not allow this change",
        "content": _PROBLEM_CONTENT,
    },
    422: {"description": "The request or a value in it is not valid", "content": _PROBLEM_CONTENT},
}

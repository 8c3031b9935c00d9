"""What the monthly report needs to know about each patient's programs: enrollment, consent, the
relationship with the billing practitioner, the RPM order and episode, the device-period anchor,
the CCM care plan and complexity.

Enrollment, consent, the last visit and device activation belong to provisioning (migration
0100_provisioning); :class:`billing.repository.DatabaseEnrollments` reads them (all SQL touching
provisioning's tables is in :mod:`billing.repository`) and answers this module's
:class:`EnrollmentSource` protocol, which keeps the report independent of where the facts live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID

from billing.case import Consent, OtherService, Program


@dataclass(frozen=True, slots=True)
class Enrollment:
    patient_id: UUID
    programs: frozenset[Program]
    established: bool
    consents: tuple[Consent, ...]
    care_plan: bool
    ccm_complex: bool
    rpm_order_on_file: bool
    device_period_start: date | None
    rpm_episode_start: date | None
    setup_record: str | None = None
    other_services: frozenset[OtherService] = frozenset()
    other_practitioner_programs: frozenset[Program] = frozenset()


class EnrollmentSource(Protocol):
    def enrollments(self, practice_id: UUID, month: date) -> Mapping[UUID, Enrollment]: ...

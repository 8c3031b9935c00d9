"""Where the monthly report gets each patient's program facts: consent, the relationship with the
billing practitioner, care plan, complexity, the RPM order and episode, device-period anchor.

These belong to provisioning (enrollment and consent tables, device activation: issue 6, migrations
0100-0149). Until those tables exist on this branch, the report reads them through
:class:`EnrollmentFileAdapter`, an explicit interim adapter over a JSON file the practice exports
(``carehub billing report --enrollments FILE``); when provisioning's tables land, a database source
in :mod:`billing.repository` implements the same :class:`EnrollmentSource` protocol and the report
does not change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

from billing.case import Consent, OtherService, Program
from core.errors import CarehubError


class EnrollmentError(CarehubError):
    """The enrollment source cannot be read or is invalid."""


@dataclass(frozen=True, slots=True)
class Enrollment:
    patient_id: UUID
    established: bool
    consents: tuple[Consent, ...]
    care_plan: bool
    ccm_complex: bool
    rpm_order_on_file: bool
    device_period_start: date | None
    rpm_episode_start: date | None
    other_services: frozenset[OtherService] = frozenset()
    other_practitioner_programs: frozenset[Program] = frozenset()

    @property
    def programs(self) -> frozenset[Program]:
        return frozenset(c.program for c in self.consents)


class EnrollmentSource(Protocol):
    def enrollments(self, practice_id: UUID, month: date) -> Mapping[UUID, Enrollment]: ...


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _ConsentIn(_Strict):
    program: Literal["RPM", "CCM"]
    date: date
    id: str | None = None


class _EnrollmentIn(_Strict):
    established: bool
    consents: list[_ConsentIn]
    care_plan: bool = False
    ccm_complex: bool = False
    rpm_order_on_file: bool = False
    device_period_start: date | None = None
    rpm_episode_start: date | None = None
    other_services: list[Literal["APCM", "PCM", "HH_HOSPICE_OVERSIGHT", "ESRD_MONTHLY", "RTM"]] = []
    other_practitioner_programs: list[Literal["RPM", "CCM"]] = []


class _FileIn(_Strict):
    practice_id: UUID
    patients: dict[UUID, _EnrollmentIn]


class EnrollmentFileAdapter:
    """Interim adapter (see the module docstring): ``{"practice_id": ..., "patients": {"<patient id>":
    {"established": true, "consents": [{"program": "RPM", "date": "2026-10-20"}], "care_plan": true,
    "ccm_complex": false, "rpm_order_on_file": true, "device_period_start": "2026-11-01"}}}``.
    Missing facts default to the answer that bills nothing (no care plan, no order)."""

    def __init__(self, path: Path) -> None:
        try:
            self._doc = _FileIn.model_validate_json(path.read_bytes())
        except OSError as exc:
            raise EnrollmentError(f"cannot read {path}: {exc.strerror}") from exc
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise EnrollmentError(f"invalid enrollment file at {where}: {first['msg']}") from None

    def enrollments(self, practice_id: UUID, month: date) -> Mapping[UUID, Enrollment]:
        if practice_id != self._doc.practice_id:
            raise EnrollmentError("the enrollment file is for another practice")
        return {
            patient_id: Enrollment(
                patient_id,
                e.established,
                tuple(Consent(Program(c.program), c.date, c.id) for c in e.consents),
                e.care_plan,
                e.ccm_complex,
                e.rpm_order_on_file,
                e.device_period_start,
                e.rpm_episode_start,
                frozenset(OtherService(s) for s in e.other_services),
                frozenset(Program(p) for p in e.other_practitioner_programs),
            )
            for patient_id, e in self._doc.patients.items()
        }

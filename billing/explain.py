"""``carehub billing explain``: one patient-month as a JSON document in, the engine's result out,
without a database. The interface billing staff use to check a case and tests use to pin rules.

The document is validated strictly (pydantic strict mode, unknown fields forbidden): a field the
engine would not read, a string where a number belongs or a local time without an offset is an
error with its path, never ignored or coerced. Input (issue 7)::

    {"month": "2026-11",
     "patient": {"timezone": "America/Chicago", "established": true, "conditions": ["I10", "E11.9"]},
     "consents": [{"program": "RPM", "date": "2026-10-20"}],
     "care_plan": true, "ccm_complex": false,
     "device_period_start": "2026-11-01", "setup_billed_in_episode": false,
     "readings": [{"measured_at": "2026-11-01T14:03:00Z", "source": "device"}],
     "time_entries": [{"date": "2026-11-03", "minutes": 12, "program": "RPM",
                       "performer": "clinical_staff", "interactive": true}]}

Optional, beyond the issue's example: ``readings[].flags`` (carehub reading flags, e.g.
``test_data``), ``readings[].value_absent``, ``readings[].device``, ``time_entries[].id``,
``consents[].id``, ``rpm_order_on_file`` (default true), ``setup_record`` (the id of the set-up and
education visit, or null when there is none: when the field is present 99453 needs it), ``other_services`` (APCM, PCM,
HH_HOSPICE_OVERSIGHT, ESRD_MONTHLY, RTM) and ``other_practitioner_programs`` (RPM, CCM)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from billing.case import Case, Condition, Consent, OtherService, Performer, Program, TimeSpent
from billing.conditions import ChronicDefault, condition_keys_of, condition_of, normalise_icd10
from billing.periods import ReadingFact, ReadingSource, local_data_days
from core.domain import ReadingFlag
from core.errors import CarehubError, InvalidDomainValue

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MINUTES_PER_DAY = 24 * 60


class InvalidCase(CarehubError):
    """The explain document is not a valid case (the message lists every problem with its path)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PatientIn(_Strict):
    timezone: str
    established: bool
    conditions: list[str]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value[:64]!r}") from None
        return value

    @field_validator("conditions")
    @classmethod
    def _icd10(cls, value: list[str]) -> list[str]:
        for code in value:
            try:
                normalise_icd10(code)
            except InvalidDomainValue as exc:
                raise ValueError(str(exc)) from None
        return value


class ConsentIn(_Strict):
    program: Literal["RPM", "CCM"]
    date: date
    id: str | None = None


class ReadingIn(_Strict):
    measured_at: AwareDatetime
    source: Literal["device", "manual"]
    flags: list[ReadingFlag] = Field(default_factory=list)
    value_absent: bool = False
    device: str | None = None


class TimeEntryIn(_Strict):
    date: date
    minutes: Annotated[int, Field(ge=1, le=MINUTES_PER_DAY)]
    program: Literal["RPM", "CCM"]
    performer: Literal["clinical_staff", "physician"]
    interactive: bool
    id: str | None = None


class CaseIn(_Strict):
    month: str
    patient: PatientIn
    consents: list[ConsentIn]
    care_plan: bool
    ccm_complex: bool
    device_period_start: date | None = None
    setup_billed_in_episode: bool
    setup_record: str | None = None
    readings: list[ReadingIn]
    time_entries: list[TimeEntryIn]
    rpm_order_on_file: bool = True
    other_services: list[Literal["APCM", "PCM", "HH_HOSPICE_OVERSIGHT", "ESRD_MONTHLY", "RTM"]] = Field(
        default_factory=list
    )
    other_practitioner_programs: list[Literal["RPM", "CCM"]] = Field(default_factory=list)

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        if not MONTH_RE.match(value):
            raise ValueError("month must be YYYY-MM, e.g. 2026-11")
        return value


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".") or "document"
        message = str(err["msg"])
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        lines.append(f"{path}: {message}")
    return "invalid case:\n  " + "\n  ".join(lines)


def parse_case(text: str | bytes) -> CaseIn:
    try:
        return CaseIn.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidCase(_format_errors(exc)) from None


def explain_conditions(codes: list[str]) -> tuple[Condition, ...]:
    """Without a database the §B ``chronic_default`` stands in for the clinician's attestation
    (``review`` rows do not count until a clinician attests them in the database)."""
    found = []
    for code in codes:
        row = condition_of(code)
        found.append(
            Condition(
                code.strip().upper(),
                condition_keys_of(code),
                row is not None and row.chronic_default is ChronicDefault.TRUE,
            )
        )
    return tuple(found)


def to_case(doc: CaseIn) -> Case:
    year, month = (int(x) for x in doc.month.split("-"))
    readings = [
        ReadingFact(r.measured_at, ReadingSource(r.source), frozenset(r.flags), r.value_absent, r.device)
        for r in doc.readings
    ]
    return Case(
        month=date(year, month, 1),
        established=doc.patient.established,
        conditions=explain_conditions(doc.patient.conditions),
        consents=tuple(Consent(Program(c.program), c.date, c.id) for c in doc.consents),
        care_plan=doc.care_plan,
        ccm_complex=doc.ccm_complex,
        data_days=local_data_days(readings, doc.patient.timezone),
        time_spent=tuple(
            TimeSpent(t.date, t.minutes, Program(t.program), Performer(t.performer), t.interactive, t.id)
            for t in doc.time_entries
        ),
        device_period_start=doc.device_period_start,
        setup_billed_in_episode=doc.setup_billed_in_episode,
        setup_record=doc.setup_record,
        setup_checked="setup_record" in doc.model_fields_set,
        rpm_order_on_file=doc.rpm_order_on_file,
        other_services=frozenset(OtherService(s) for s in doc.other_services),
        other_practitioner_programs=frozenset(Program(p) for p in doc.other_practitioner_programs),
    )

"""Enrollment and eligibility: the pure rules with exact vectors, and the database path that derives
condition keys from the §B table and refuses an ineligible enrollment naming the rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from provisioning import enrollment, registry
from provisioning.eligibility import (
    ConditionFact,
    ConsentFact,
    PatientFacts,
    Program,
    ccm_eligibility,
    qualifying_chronic_keys,
    rpm_eligibility,
)
from provisioning.enrollment import EnrollmentError, NotEligible
from provisioning.identifiers import InvalidIdentifier
from tests.provisioning.conftest import HOME, NOW, Clinic, Conn, rpm_ready_patient

ON = date(2026, 3, 1)
CONSENTED = ConsentFact(Program.RPM, datetime(2026, 2, 1, tzinfo=UTC), None, True)


def facts(**kwargs: object) -> PatientFacts:
    base: dict[str, object] = {
        "last_visit_on": date(2025, 12, 1),
        "has_mbi": True,
        "conditions": (ConditionFact("I10", ("hypertension",), True, "true"),),
        "consents": (CONSENTED,),
    }
    base.update(kwargs)
    return PatientFacts(**base)  # type: ignore[arg-type]


def blocking(result: object) -> list[str]:
    return [f.rule for f in result.blocking]  # type: ignore[attr-defined]


def test_rpm_rules_each_block_on_their_own() -> None:
    assert rpm_eligibility(facts(), on=ON, condition_icd10="I10").eligible
    assert blocking(rpm_eligibility(facts(last_visit_on=None), on=ON, condition_icd10="I10")) == ["RPM-ELIG-1"]
    assert blocking(rpm_eligibility(facts(), on=ON, condition_icd10="E11.9")) == ["RPM-ELIG-3"]
    assert blocking(rpm_eligibility(facts(consents=()), on=ON, condition_icd10="I10")) == ["RPM-CONSENT-1"]
    revoked = ConsentFact(Program.RPM, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 20, tzinfo=UTC), True)
    assert blocking(rpm_eligibility(facts(consents=(revoked,)), on=ON, condition_icd10="I10")) == ["RPM-CONSENT-1"]
    no_cost = ConsentFact(Program.RPM, datetime(2026, 2, 1, tzinfo=UTC), None, False)
    assert blocking(rpm_eligibility(facts(consents=(no_cost,)), on=ON, condition_icd10="I10")) == ["RPM-CONSENT-1"]
    ccm_only = ConsentFact(Program.CCM, datetime(2026, 2, 1, tzinfo=UTC), None, True)
    assert blocking(rpm_eligibility(facts(consents=(ccm_only,)), on=ON, condition_icd10="I10")) == ["RPM-CONSENT-1"]
    assert blocking(rpm_eligibility(facts(has_mbi=False), on=ON, condition_icd10="I10")) == ["MEDICARE-ID"]
    # RPM-ELIG-2: one acute condition is enough for RPM
    assert rpm_eligibility(
        facts(conditions=(ConditionFact("I16.0", ("hypertensive_crisis",), False, "false"),)),
        on=ON,
        condition_icd10="I16.0",
    ).eligible


def test_ccm_needs_two_chronic_conditions_a_recent_visit_and_consent() -> None:
    ccm_consent = ConsentFact(Program.CCM, datetime(2026, 2, 1, tzinfo=UTC), None, True)
    two = (
        ConditionFact("I10", ("hypertension",), True, "true"),
        ConditionFact("E11.9", ("diabetes_type2",), True, "true"),
    )
    assert ccm_eligibility(facts(conditions=two, consents=(ccm_consent,)), on=ON).eligible
    assert blocking(ccm_eligibility(facts(consents=(ccm_consent,)), on=ON)) == ["CCM-ELIG-1"]
    old_visit = facts(conditions=two, consents=(ccm_consent,), last_visit_on=date(2025, 2, 28))
    assert blocking(ccm_eligibility(old_visit, on=ON)) == ["CCM-ELIG-3"]
    assert blocking(ccm_eligibility(facts(conditions=two), on=ON)) == ["CCM-CONSENT-1"]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        # two codes, one key: counts once
        ((("I10", ("hypertension",), True, "true"), ("I15.0", ("hypertension",), True, "true")), ("hypertension",)),
        # a table 'false' key (overweight) never counts, even if attested chronic
        ((("E66.3", ("overweight",), True, "false"),), ()),
        # not attested chronic by the clinician
        ((("J44.9", ("copd",), False, "true"),), ()),
        # a code outside the table has no key
        ((("S72.001A", (), True, None),), ()),
        # I13.0 implies heart failure and ckd
        (
            (("I13.0", ("ckd", "heart_failure", "hypertension_ckd"), True, "true"),),
            ("ckd", "heart_failure", "hypertension_ckd"),
        ),
    ],
)
def test_qualifying_chronic_keys(conditions: tuple[tuple[object, ...], ...], expected: tuple[str, ...]) -> None:
    facts_ = [ConditionFact(*c) for c in conditions]  # type: ignore[arg-type]
    assert qualifying_chronic_keys(facts_, ON) == expected


def test_resolved_condition_no_longer_counts() -> None:
    hf = ConditionFact("I50.9", ("heart_failure",), True, "true", date(2024, 1, 1), date(2026, 1, 1))
    assert qualifying_chronic_keys([hf], date(2025, 6, 1)) == ("heart_failure",)
    assert qualifying_chronic_keys([hf], ON) == ()


def test_database_derives_keys_and_enrollment_is_gated(db: Conn, clinic: Clinic) -> None:
    patient = registry.create_patient(db, practice_id=clinic.practice_id, mrn="M-1", time_zone="America/Chicago")
    keys = enrollment.add_condition(db, patient, icd10_code="I13.0", chronic=True, recorded_by=clinic.clinician)
    assert keys == ("ckd", "heart_failure", "hypertension_ckd")
    with pytest.raises(NotEligible) as refused:
        enrollment.enroll(
            db,
            patient,
            program=Program.RPM,
            starts_on=NOW.date(),
            ordering_user_id=clinic.clinician,
            condition_icd10="I13.0",
        )
    assert [f.rule for f in refused.value.eligibility.blocking] == ["MEDICARE-ID", "RPM-ELIG-1", "RPM-CONSENT-1"]
    assert "1EG4" not in str(refused.value)
    enrollment.update_patient(db, patient, mbi="1EG4TE5MK73", address=HOME, last_visit_on=date(2025, 1, 1))
    enrollment.record_consent(
        db,
        patient,
        program=Program.RPM,
        modality="written",
        obtained_at=NOW - timedelta(days=1),
        obtained_by=clinic.logistics,
        text_version="rpm-2026.1",
        cost_sharing_explained=True,
    )
    enrollment.enroll(
        db,
        patient,
        program=Program.RPM,
        starts_on=NOW.date(),
        ordering_user_id=clinic.clinician,
        condition_icd10="I13.0",
    )
    assert enrollment.enrolled_on(db, patient, Program.RPM, NOW.date())
    with pytest.raises(EnrollmentError, match="already enrolled"):
        enrollment.enroll(
            db,
            patient,
            program=Program.RPM,
            starts_on=NOW.date(),
            ordering_user_id=clinic.clinician,
            condition_icd10="I13.0",
        )
    assert enrollment.patient_address(db, patient) == HOME
    assert enrollment.end_enrollment(db, patient, program=Program.RPM, ends_on=NOW.date(), reason="goals_met") == 1
    assert not enrollment.enrolled_on(db, patient, Program.RPM, NOW.date() + timedelta(days=1))


def test_mbi_is_validated_and_unique_in_the_practice(db: Conn, clinic: Clinic) -> None:
    rpm_ready_patient(db, clinic, mrn="A")
    other = registry.create_patient(db, practice_id=clinic.practice_id, mrn="B", time_zone="UTC")
    with pytest.raises(InvalidIdentifier):
        enrollment.update_patient(db, other, mbi="1SG4TE5MK73")
    with pytest.raises(EnrollmentError, match="another patient"):
        enrollment.update_patient(db, other, mbi="1EG4TE5MK73")
    with pytest.raises(EnrollmentError, match="ICD-10-CM"):
        enrollment.add_condition(db, other, icd10_code="hypertension", chronic=True, recorded_by=clinic.clinician)

"""The ICD-10-CM chronic-condition table (reference/rpm-ccm-rules.md §B) and the condition keys the
database derives for each patient condition: longest prefix wins, implied conditions are added."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import psycopg
import pytest

from provisioning import registry

Conn = psycopg.Connection[tuple[Any, ...]]


@pytest.mark.parametrize(
    ("code", "keys"),
    [
        ("I10", ["hypertension"]),
        ("I11.0", ["heart_failure", "hypertension"]),  # hypertensive heart disease with heart failure
        ("I11.9", ["hypertension"]),
        ("I13.2", ["ckd", "heart_failure", "hypertension_ckd"]),
        ("I50.22", ["heart_failure"]),
        ("J44.1", ["copd"]),
        ("E66.01", ["obesity"]),
        ("E66.3", ["overweight"]),  # the longer prefix E663 overrides E66
        ("R73.03", ["prediabetes"]),
        ("C50.911", ["cancer"]),
        ("Z85.3", []),  # history of cancer is not a condition
        ("i50.9", ["heart_failure"]),  # normalised: dot stripped, upper-cased
    ],
)
def test_condition_keys_of_a_code(db: Conn, code: str, keys: list[str]) -> None:
    assert db.execute("SELECT carehub_condition_keys(%s)", (code,)).fetchone() == (keys,)


def test_patient_condition_keys_are_derived_not_written(db: Conn) -> None:
    practice = registry.create_practice(db, name="P", time_zone="UTC")
    patient = registry.create_patient(db, practice_id=practice, mrn="M1", time_zone="UTC")
    db.execute(
        "INSERT INTO patient_conditions (id, practice_id, patient_id, icd10_code, condition_keys, chronic)"
        " VALUES (%s, %s, %s, 'I11.0', '{copd}', true)",
        (uuid4(), practice, patient),
    )
    assert db.execute("SELECT condition_keys FROM patient_conditions").fetchone() == (
        ["heart_failure", "hypertension"],
    )
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO patient_conditions (id, practice_id, patient_id, icd10_code, chronic)"
            " VALUES (%s, %s, %s, 'not a code', true)",
            (uuid4(), practice, patient),
        )

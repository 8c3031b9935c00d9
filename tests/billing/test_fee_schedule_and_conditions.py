"""The seeded fee schedule reproduces reference/rpm-ccm-rules.md §A.8, the §B mirror equals the
database's prefix table, and every §A rule id has a test named with it."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from billing.conditions import ICD10_CODE_RE, PREFIXES, condition_keys_of, condition_of
from billing.fee_schedule import ConversionFactorKind, FeeScheduleError, parse_fee_csv, seeded_schedule
from billing.rules_2026 import RuleId

# §A.8: code -> (2026 $ non-QP, 2026 $ QP)
A8_2026 = {
    "99453": ("21.71", "21.82"),
    "99445": ("52.11", "52.37"),
    "99454": ("52.11", "52.37"),
    "99470": ("26.05", "26.18"),
    "99457": ("51.77", "52.03"),
    "99458": ("41.42", "41.62"),
    "99091": ("55.45", "55.72"),
    "99490": ("66.13", "66.46"),
    "99439": ("50.44", "50.69"),
    "99491": ("89.18", "89.63"),
    "99437": ("63.13", "63.44"),
    "99487": ("144.29", "145.01"),
    "99489": ("78.16", "78.55"),
    "99424": ("87.51", "87.95"),
    "99425": ("61.46", "61.76"),
    "99426": ("67.80", "68.14"),
    "99427": ("54.11", "54.38"),
    "98980": ("54.11", "54.38"),
}


def test_seeded_2026_amounts_equal_the_reference_table() -> None:
    non_qp = seeded_schedule(2026)
    qp = seeded_schedule(2026, ConversionFactorKind.QP)
    assert {c: (str(non_qp.unit_amount(c)), str(qp.unit_amount(c))) for c in A8_2026} == A8_2026


def test_a_year_without_a_schedule_is_an_error_not_a_guess() -> None:
    with pytest.raises(FeeScheduleError, match="2027"):
        seeded_schedule(2027)


def test_fee_csv_is_parsed_strictly() -> None:
    assert parse_fee_csv("code,rvu\n99454,1.56\n") == {"99454": Decimal("1.56")}
    for bad in ("99454,1.56\n", "code,rvu\n99454,abc\n", "code,rvu\n99454,1\n99454,2\n", "code,rvu\n99454,-1\n"):
        with pytest.raises(FeeScheduleError):
            parse_fee_csv(bad)


def test_condition_mirror_equals_the_database_table(db: psycopg.Connection[tuple[Any, ...]]) -> None:
    rows = db.execute("SELECT prefix, condition_key, chronic_default FROM icd10_condition_prefixes").fetchall()
    assert sorted(rows) == sorted((p.prefix, p.condition_key, p.chronic_default.value) for p in PREFIXES)


def test_implied_keys_equal_the_databases(db: psycopg.Connection[tuple[Any, ...]]) -> None:
    codes = [p.prefix for p in PREFIXES if ICD10_CODE_RE.match(p.prefix)]
    codes += ["I11.0", "I13.0", "I13.2", "I12.9", "I13.10", "C50.911", "Z85.3", "E66.3", "E11.65"]
    for code in codes:
        row = db.execute("SELECT carehub_condition_keys(%s)", (code,)).fetchone()
        assert row is not None
        assert tuple(row[0]) == condition_keys_of(code), code


@pytest.mark.parametrize(
    ("code", "key"), [("I10", "hypertension"), ("e11.9", "diabetes_type2"), ("E66.3", "overweight"), ("Z85.3", None)]
)
def test_longest_prefix_wins(code: str, key: str | None) -> None:
    found = condition_of(code)
    assert (found.condition_key if found else None) == key


def test_every_rule_id_has_a_test_named_with_it() -> None:
    names = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        names |= set(re.findall(r"def (test_[A-Za-z0-9_]+)", path.read_text()))
    missing = [r.value for r in RuleId if not any(n.startswith("test_" + r.value.replace("-", "_")) for n in names)]
    assert missing == []

"""Allowed amounts per code: relative value units × conversion factor, loaded per year.

reference/rpm-ccm-rules.md §A.8: national non-facility RVUs from the CMS file PPRRVU2026_Jul_nonQPP
(RVU26C) and the CY2026 conversion factors $33.4009 (non-qualifying APM participants) and $33.5675
(qualifying APM participants). These are allowed amounts before geographic adjustment,
sequestration and coinsurance, never "revenue". The schedule is data: ``billing_fee_schedule``
(migration 0350) holds it per year and the report reads it from there; the seed below is what
``billing explain`` uses without a database and what the migration inserts (a test keeps them equal).
A new CMS quarterly release is loaded with :func:`parse_fee_csv` (``carehub billing fees load``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from billing.rules_2026 import Code
from core.errors import CarehubError

CENT = Decimal("0.01")


class FeeScheduleError(CarehubError):
    """A fee schedule is missing a code or a loaded file is malformed."""


class ConversionFactorKind(StrEnum):
    NON_QP = "non_qp"
    QP = "qp"


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    year: int
    conversion_factor: Decimal
    rvus: Mapping[str, Decimal]

    def unit_amount(self, code: str) -> Decimal:
        try:
            rvu = self.rvus[code]
        except KeyError:
            raise FeeScheduleError(f"the {self.year} fee schedule has no RVU for {code}") from None
        return (rvu * self.conversion_factor).quantize(CENT, rounding=ROUND_HALF_UP)

    def amount(self, code: str, units: int) -> Decimal:
        return self.unit_amount(code) * units


CONVERSION_FACTORS_2026: dict[ConversionFactorKind, Decimal] = {
    ConversionFactorKind.NON_QP: Decimal("33.4009"),
    ConversionFactorKind.QP: Decimal("33.5675"),
}

# §A.8, 2026 total non-facility RVU.
RVUS_2026: dict[str, Decimal] = {
    Code.CPT_99453: Decimal("0.65"),
    Code.CPT_99445: Decimal("1.56"),
    Code.CPT_99454: Decimal("1.56"),
    Code.CPT_99470: Decimal("0.78"),
    Code.CPT_99457: Decimal("1.55"),
    Code.CPT_99458: Decimal("1.24"),
    Code.CPT_99091: Decimal("1.66"),
    Code.CPT_99490: Decimal("1.98"),
    Code.CPT_99439: Decimal("1.51"),
    Code.CPT_99491: Decimal("2.67"),
    Code.CPT_99437: Decimal("1.89"),
    Code.CPT_99487: Decimal("4.32"),
    Code.CPT_99489: Decimal("2.34"),
    "99424": Decimal("2.62"),
    "99425": Decimal("1.84"),
    "99426": Decimal("2.03"),
    "99427": Decimal("1.62"),
    "98980": Decimal("1.62"),
}


def seeded_schedule(year: int, kind: ConversionFactorKind = ConversionFactorKind.NON_QP) -> FeeSchedule:
    """The built-in schedule of a year (only 2026 is seeded)."""
    if year != 2026:
        raise FeeScheduleError(f"no built-in fee schedule for {year}; load one with `carehub billing fees load`")
    return FeeSchedule(2026, CONVERSION_FACTORS_2026[kind], dict(RVUS_2026))


def parse_fee_csv(text: str) -> dict[str, Decimal]:
    """``code,rvu`` rows (a header line first) -> RVUs, refusing duplicates and non-positive values."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != ["code", "rvu"]:
        raise FeeScheduleError("a fee file starts with the header line 'code,rvu'")
    rvus: dict[str, Decimal] = {}
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != 2:
            raise FeeScheduleError(f"line {line_no}: expected 'code,rvu'")
        code, raw = row[0].strip(), row[1].strip()
        if not (code.isalnum() and len(code) == 5):
            raise FeeScheduleError(f"line {line_no}: {code[:16]!r} is not a 5-character CPT/HCPCS code")
        try:
            rvu = Decimal(raw)
        except InvalidOperation:
            raise FeeScheduleError(f"line {line_no}: RVU {raw[:16]!r} is not a number") from None
        if not rvu.is_finite() or rvu <= 0:
            raise FeeScheduleError(f"line {line_no}: RVU must be positive")
        if code in rvus:
            raise FeeScheduleError(f"line {line_no}: {code} appears twice")
        rvus[code] = rvu
    return rvus


def require_codes(schedule: FeeSchedule, codes: Iterable[str]) -> None:
    missing = sorted(set(codes) - set(schedule.rvus))
    if missing:
        raise FeeScheduleError(f"the {schedule.year} fee schedule lacks {', '.join(missing)}")

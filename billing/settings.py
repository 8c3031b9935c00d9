"""Settings of the billing commands (environment variables with the ``CAREHUB_`` prefix).

The [U] thresholds of reference/rpm-ccm-rules.md §F are here so a practice's compliance lead can
change them without a code change; each defaults to the year's :class:`billing.rules_2026.RuleSet`."""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from billing.fee_schedule import ConversionFactorKind
from billing.rules_2026 import RuleSet
from core.settings import DatabaseSettings


class BillingSettings(DatabaseSettings):
    billing_rpm_setup_min_days: int | None = Field(
        default=None, ge=2, le=30, description="RPM-SETUP-2: data days before 99453 (default: the year's rule, 16)."
    )
    billing_rpm_max_99458_units: int | None = Field(default=None, ge=0, le=10, description="RPM-MGMT-4 unit cap.")
    billing_ccm_max_99437_units: int | None = Field(default=None, ge=0, le=10, description="CCM-TIME-2 unit cap.")
    billing_conversion_factor: ConversionFactorKind = Field(
        default=ConversionFactorKind.NON_QP,
        description="non_qp for most practices; qp for qualifying APM participants (§A.0).",
    )

    def apply(self, rules: RuleSet) -> RuleSet:
        changes: dict[str, int] = {}
        if self.billing_rpm_setup_min_days is not None:
            changes["setup_min_days"] = self.billing_rpm_setup_min_days
        if self.billing_rpm_max_99458_units is not None:
            changes["max_99458_units"] = self.billing_rpm_max_99458_units
        if self.billing_ccm_max_99437_units is not None:
            changes["max_99437_units"] = self.billing_ccm_max_99437_units
        return replace(rules, **changes)

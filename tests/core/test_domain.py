"""The domain vocabulary: MDC codes and units from reference/rpm-ccm-rules.md §D, invariants."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from core.domain import (
    DEVICE_READING_KINDS,
    METRICS,
    METRICS_BY_CODE,
    MeasuredAtSource,
    Metric,
    Observation,
    Reading,
    ReadingKind,
    SpecialValue,
    Unit,
)
from core.errors import InvalidDomainValue


def test_mdc_codes_are_partition_times_65536_plus_term_code() -> None:
    # §D.2: 32-bit code = partition × 65536 + term code; these five are given both ways there.
    assert METRICS[Metric.MDC_PRESS_BLD_NONINV_SYS].code == 2 * 65536 + 18949
    assert METRICS[Metric.MDC_PULS_RATE_NON_INV].code == 2 * 65536 + 18474
    assert METRICS[Metric.MDC_MASS_BODY_ACTUAL].code == 2 * 65536 + 57664
    assert METRICS[Metric.MDC_RATIO_MASS_BODY_LEN_SQ].code == 2 * 65536 + 57680


def test_metric_table_matches_reference_d2() -> None:
    expected = {
        "MDC_PRESS_BLD_NONINV_SYS": (150021, "mm[Hg]"),
        "MDC_PRESS_BLD_NONINV_DIA": (150022, "mm[Hg]"),
        "MDC_PRESS_BLD_NONINV_MEAN": (150023, "mm[Hg]"),
        "MDC_PULS_RATE_NON_INV": (149546, "/min"),
        "MDC_PULS_OXIM_PULS_RATE": (149530, "/min"),
        "MDC_PULS_OXIM_SAT_O2": (150456, "%"),
        "MDC_MASS_BODY_ACTUAL": (188736, "kg"),
        "MDC_LEN_BODY_ACTUAL": (188740, "cm"),
        "MDC_BODY_FAT": (188748, "%"),  # partition 2, term 57676 (IEEE 11073-10101; HL7 PHD IG)
        "MDC_RATIO_MASS_BODY_LEN_SQ": (188752, "kg/m2"),
        "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD": (160184, "mg/dL"),
        "MDC_CONC_GLU_CAPILLARY_PLASMA": (160188, "mg/dL"),
        "MDC_CONC_GLU_UNDETERMINED_PLASMA": (160368, "mg/dL"),
        "MDC_TEMP_BODY": (150364, "Cel"),
    }
    assert {m.value: (s.code, s.canonical_unit.value) for m, s in METRICS.items()} == expected
    assert len(METRICS_BY_CODE) == len(METRICS)


def test_every_reading_kind_has_metrics_and_a_device_kind() -> None:
    produced = set().union(*DEVICE_READING_KINDS.values())
    assert produced == set(ReadingKind)
    for kind in ReadingKind:
        assert any(kind in spec.reading_kinds for spec in METRICS.values())


def test_observation_has_exactly_one_of_value_and_special() -> None:
    Observation(Metric.MDC_TEMP_BODY, 37.0, Unit.CEL)
    Observation(Metric.MDC_CONC_GLU_CAPILLARY_PLASMA, None, Unit.MG_PER_DL, special=SpecialValue.NEGATIVE_INFINITY)
    with pytest.raises(InvalidDomainValue):
        Observation(Metric.MDC_TEMP_BODY, None, Unit.CEL)
    with pytest.raises(InvalidDomainValue):
        Observation(Metric.MDC_TEMP_BODY, 37.0, Unit.CEL, special=SpecialValue.NAN)
    with pytest.raises(InvalidDomainValue):
        Observation(Metric.MDC_TEMP_BODY, float("nan"), Unit.CEL)


def test_reading_times_must_be_timezone_aware() -> None:
    obs = (Observation(Metric.MDC_TEMP_BODY, 37.0, Unit.CEL),)
    aware = datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(InvalidDomainValue):
        Reading(
            uuid4(),
            "T1",
            ReadingKind.TEMPERATURE,
            datetime(2026, 12, 1),
            MeasuredAtSource.DEVICE_CLOCK,
            aware,
            obs,
        )
    with pytest.raises(InvalidDomainValue):
        Reading(uuid4(), "T1", ReadingKind.TEMPERATURE, aware, MeasuredAtSource.DEVICE_CLOCK, aware, ())

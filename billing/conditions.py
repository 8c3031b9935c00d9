"""The ICD-10-CM chronic-condition prefix table (reference/rpm-ccm-rules.md §B) for billing without a
database (``carehub billing explain``).

The database's ``icd10_condition_prefixes`` (migration 0004) is the source of truth for stored
patients; this is its mirror for the pure engine, and ``tests/billing/test_conditions.py`` keeps the
two equal row by row. Matching (§B): strip the dot, upper-case, the longest matching prefix wins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from core.errors import InvalidDomainValue

ICD10_CODE_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


class ChronicDefault(StrEnum):
    """Whether a condition is normally expected to last at least 12 months (§B ``chronic_default``)."""

    TRUE = "true"
    FALSE = "false"
    REVIEW = "review"


@dataclass(frozen=True, slots=True)
class ConditionPrefix:
    prefix: str
    condition_key: str
    chronic_default: ChronicDefault


PREFIXES: tuple[ConditionPrefix, ...] = (
    ConditionPrefix("I10", "hypertension", ChronicDefault.TRUE),
    ConditionPrefix("I1A", "hypertension", ChronicDefault.TRUE),
    ConditionPrefix("I11", "hypertension", ChronicDefault.TRUE),
    ConditionPrefix("I12", "hypertension_ckd", ChronicDefault.TRUE),
    ConditionPrefix("I13", "hypertension_ckd", ChronicDefault.TRUE),
    ConditionPrefix("I15", "hypertension", ChronicDefault.TRUE),
    ConditionPrefix("I16", "hypertensive_crisis", ChronicDefault.FALSE),
    ConditionPrefix("E08", "diabetes", ChronicDefault.TRUE),
    ConditionPrefix("E09", "diabetes", ChronicDefault.TRUE),
    ConditionPrefix("E10", "diabetes_type1", ChronicDefault.TRUE),
    ConditionPrefix("E11", "diabetes_type2", ChronicDefault.TRUE),
    ConditionPrefix("E13", "diabetes", ChronicDefault.TRUE),
    ConditionPrefix("O24", "diabetes_pregnancy", ChronicDefault.FALSE),
    ConditionPrefix("R7303", "prediabetes", ChronicDefault.FALSE),
    ConditionPrefix("I50", "heart_failure", ChronicDefault.TRUE),
    ConditionPrefix("I25", "ischemic_heart_disease", ChronicDefault.TRUE),
    ConditionPrefix("I48", "atrial_fibrillation", ChronicDefault.TRUE),
    ConditionPrefix("I70", "atherosclerosis", ChronicDefault.TRUE),
    ConditionPrefix("I739", "peripheral_vascular_disease", ChronicDefault.TRUE),
    ConditionPrefix("I69", "stroke_sequelae", ChronicDefault.TRUE),
    ConditionPrefix("J44", "copd", ChronicDefault.TRUE),
    ConditionPrefix("J43", "copd", ChronicDefault.TRUE),
    ConditionPrefix("J41", "copd", ChronicDefault.TRUE),
    ConditionPrefix("J42", "copd", ChronicDefault.TRUE),
    ConditionPrefix("J45", "asthma", ChronicDefault.TRUE),
    ConditionPrefix("J47", "bronchiectasis", ChronicDefault.TRUE),
    ConditionPrefix("J961", "chronic_respiratory_failure", ChronicDefault.TRUE),
    ConditionPrefix("G4733", "sleep_apnea", ChronicDefault.TRUE),
    ConditionPrefix("N18", "ckd", ChronicDefault.TRUE),
    ConditionPrefix("F01", "dementia", ChronicDefault.TRUE),
    ConditionPrefix("F02", "dementia", ChronicDefault.TRUE),
    ConditionPrefix("F03", "dementia", ChronicDefault.TRUE),
    ConditionPrefix("G30", "alzheimers", ChronicDefault.TRUE),
    ConditionPrefix("G310", "dementia", ChronicDefault.TRUE),
    ConditionPrefix("G3183", "dementia", ChronicDefault.TRUE),
    ConditionPrefix("F32", "depression", ChronicDefault.REVIEW),
    ConditionPrefix("F33", "depression", ChronicDefault.TRUE),
    ConditionPrefix("F341", "depression", ChronicDefault.TRUE),
    ConditionPrefix("F411", "anxiety", ChronicDefault.REVIEW),
    ConditionPrefix("F31", "bipolar", ChronicDefault.TRUE),
    ConditionPrefix("F20", "schizophrenia", ChronicDefault.TRUE),
    ConditionPrefix("M15", "osteoarthritis", ChronicDefault.TRUE),
    ConditionPrefix("M16", "osteoarthritis", ChronicDefault.TRUE),
    ConditionPrefix("M17", "osteoarthritis", ChronicDefault.TRUE),
    ConditionPrefix("M18", "osteoarthritis", ChronicDefault.TRUE),
    ConditionPrefix("M19", "osteoarthritis", ChronicDefault.TRUE),
    ConditionPrefix("M05", "rheumatoid_arthritis", ChronicDefault.TRUE),
    ConditionPrefix("M06", "rheumatoid_arthritis", ChronicDefault.TRUE),
    ConditionPrefix("M80", "osteoporosis", ChronicDefault.TRUE),
    ConditionPrefix("M81", "osteoporosis", ChronicDefault.TRUE),
    ConditionPrefix("E78", "hyperlipidemia", ChronicDefault.TRUE),
    ConditionPrefix("E66", "obesity", ChronicDefault.TRUE),
    ConditionPrefix("E663", "overweight", ChronicDefault.FALSE),
    ConditionPrefix("E03", "hypothyroidism", ChronicDefault.TRUE),
    ConditionPrefix("G20", "parkinsons", ChronicDefault.TRUE),
    ConditionPrefix("G35", "multiple_sclerosis", ChronicDefault.TRUE),
    ConditionPrefix("G40", "epilepsy", ChronicDefault.TRUE),
    ConditionPrefix("K70", "liver_disease", ChronicDefault.TRUE),
    ConditionPrefix("K74", "liver_disease", ChronicDefault.TRUE),
    ConditionPrefix("B20", "hiv", ChronicDefault.TRUE),
    ConditionPrefix("C", "cancer", ChronicDefault.REVIEW),
)

_BY_PREFIX = {p.prefix: p for p in PREFIXES}
_LONGEST_PREFIX = max(len(p.prefix) for p in PREFIXES)


def normalise_icd10(code: str) -> str:
    """``e11.9`` -> ``E119``; raises :class:`InvalidDomainValue` for text that is not an ICD-10-CM code."""
    upper = code.strip().upper()
    if not ICD10_CODE_RE.match(upper):
        raise InvalidDomainValue(f"not an ICD-10-CM code: {code[:16]!r}")
    return upper.replace(".", "")


def condition_of(code: str) -> ConditionPrefix | None:
    """The §B row of a code (longest matching prefix), or None when the code is not in the table."""
    normal = normalise_icd10(code)
    for length in range(min(len(normal), _LONGEST_PREFIX), 0, -1):
        found = _BY_PREFIX.get(normal[:length])
        if found is not None:
            return found
    return None


# Codes that imply a second condition (§B notes; migration 0004's icd10_condition_implications).
IMPLICATIONS: tuple[tuple[str, str], ...] = (
    ("I110", "heart_failure"),
    ("I130", "heart_failure"),
    ("I132", "heart_failure"),
    ("I12", "ckd"),
    ("I13", "ckd"),
)


def condition_keys_of(code: str) -> tuple[str, ...]:
    """The sorted condition keys of a code, as ``carehub_condition_keys`` derives them in the database."""
    normal = normalise_icd10(code)
    main = condition_of(code)
    keys = {main.condition_key} if main else set()
    keys.update(key for prefix, key in IMPLICATIONS if normal.startswith(prefix))
    return tuple(sorted(keys))

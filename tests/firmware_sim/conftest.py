"""Shared fixtures: one seed per test, printed so a failure can be replayed.

``CAREHUB_TEST_SEED`` overrides the default seed (a failing run's seed, to reproduce it)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

DEFAULT_SEED = 20260301


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("CAREHUB_TEST_SEED", DEFAULT_SEED))
    print(f"seed={value} (rerun with CAREHUB_TEST_SEED={value})")  # shown by pytest when the test fails
    return value


@pytest.fixture
def t0() -> datetime:
    """A true (UTC) instant: 07:00 in New York on a winter morning."""
    return datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

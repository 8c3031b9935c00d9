"""Keep a long-running loop alive across database and broker outages (CONVENTIONS.md §7): the body
runs until ``stop`` is set; when it fails with a transient error it is logged once as down, restarted
with jittered exponential backoff, and logged once when it runs again."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

import psycopg

from core.db import DatabaseUnavailable

logger = logging.getLogger(__name__)

TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, DatabaseUnavailable, OSError)


def backoff_s(failures: int, min_s: float, max_s: float, jitter: float) -> float:
    """Delay before restart number ``failures`` (1-based): doubling from ``min_s``, capped, times
    ``jitter`` (0.5-1.0 in service, fixed in tests)."""
    return float(min(max_s, min_s * 2 ** max(0, failures - 1)) * jitter)


def run_supervised(
    name: str,
    body: Callable[[Callable[[], None]], None],
    stop: threading.Event,
    *,
    min_s: float = 0.5,
    max_s: float = 30.0,
) -> None:
    """Run ``body(healthy)`` until ``stop``; ``body`` calls ``healthy()`` after each good pass so the
    supervisor can log the recovery and reset its backoff."""
    failures = 0

    def healthy() -> None:
        nonlocal failures
        if failures:
            logger.info("task recovered", extra={"task": name, "after_failures": failures})
            failures = 0

    while not stop.is_set():
        try:
            body(healthy)
        except TRANSIENT as exc:
            failures += 1
            if failures == 1:
                logger.warning("task down; restarting with backoff", extra={"task": name, "error": str(exc)[:300]})
            stop.wait(backoff_s(failures, min_s, max_s, random.uniform(0.5, 1.0)))  # noqa: S311 (jitter, not crypto)

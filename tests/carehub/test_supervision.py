"""The supervisor restarts a failing loop with backoff and stops when asked."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import pytest

from carehub.supervision import backoff_s, run_supervised


@pytest.mark.parametrize(("failures", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (20, 30.0)])
def test_backoff_doubles_and_is_capped(failures: int, delay: float) -> None:
    assert backoff_s(failures, 0.5, 30.0, 1.0) == delay


def test_transient_failures_restart_the_body_until_it_runs_and_stops() -> None:
    stop = threading.Event()
    calls: list[str] = []

    def body(healthy: Callable[[], None]) -> None:
        calls.append("run")
        if len(calls) < 3:
            raise psycopg.OperationalError("server closed the connection")
        healthy()
        stop.set()

    run_supervised("test", body, stop, min_s=0.001, max_s=0.002)
    assert calls == ["run", "run", "run"]


def test_a_defect_is_not_swallowed() -> None:
    def body(healthy: Callable[[], None]) -> None:
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        run_supervised("test", body, threading.Event(), min_s=0.001)

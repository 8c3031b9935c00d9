"""Retry delays: exponential with full jitter, capped (the shape bleak-retry-connector and aiomqtt's
reconnect loops use). Pure: the random fraction is passed in."""

from __future__ import annotations


def backoff_delay_s(attempt: int, *, min_s: float, max_s: float, jitter: float) -> float:
    """Delay before retry number ``attempt`` (1 = first retry): ``min_s·2^(attempt−1)`` capped at
    ``max_s``, scaled into [50 %, 100 %] by ``jitter`` ∈ [0, 1) so a fleet that lost its broker at
    the same moment does not come back in lockstep."""
    if attempt <= 0:
        return 0.0
    base = min(max_s, min_s * float(2 ** min(attempt - 1, 30)))
    return base * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))

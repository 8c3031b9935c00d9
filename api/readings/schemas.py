"""Reading bodies: one observation per row, keyed by its IEEE 11073-10101 MDC code, value in UCUM."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, Field


class ReadingOut(BaseModel):
    reading_id: UUID
    device_id: UUID
    metric: int = Field(description="IEEE 11073-10101 MDC code.")
    value: float | None
    special: str | None = Field(description="NaN, NRes, +INF or -INF when the device sent no number.")
    unit: str = Field(description="UCUM unit.")
    measured_at: datetime
    measured_at_source: str
    from_device_memory: bool


class DailySummaryOut(BaseModel):
    metric: int
    day: date = Field(description="UTC day.")
    observations: int
    values_count: int
    min_value: float | None
    max_value: float | None
    mean_value: float | None
    first_measured_at: datetime
    last_measured_at: datetime

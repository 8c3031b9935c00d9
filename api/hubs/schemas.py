"""Hub status bodies: presence from ``up/status`` and configuration versions (desired/reported)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class HubOut(BaseModel):
    id: str
    serial: str
    state: str | None
    last_seen_at: datetime | None
    changed_at: datetime | None
    outbox_depth: int | None
    desired_config_version: int | None
    reported_config_version: int | None
    reported_config_errors: list[str]

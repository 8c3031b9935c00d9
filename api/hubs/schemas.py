"""Hub status bodies: presence from ``up/status`` and configuration versions (desired/reported)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from core.hub_messages import WhitelistEntry


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


class HubConfigOut(BaseModel):
    """The configuration versions of a hub (desired = issued, published = on the broker, reported = applied
    by the hub) and the whitelist its assignments give now (the content of the next version issued)."""

    hub_id: str
    desired_version: int
    published_version: int
    reported_version: int | None
    reported_at: datetime | None
    reported_errors: list[str]
    in_sync: bool
    reissue_pending: bool
    whitelist: list[WhitelistEntry]

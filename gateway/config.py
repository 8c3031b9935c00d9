"""The desired configuration (``down/config/desired``, retained, versioned) as this hub applies it.

The applied configuration is persisted in the outbox file, so a hub that restarts without a network
still knows its patient's devices. A message with a version not above the applied one is ignored
(the broker redelivers the retained message on every connect); an invalid one is refused and reported
(``config_rejected``) while the hub keeps running the configuration it has."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.hub_messages import HubConfig, InvalidHubMessage, ReportedConfig, WhitelistEntry, parse_message
from gateway.outbox import Outbox

CONFIG_KEY = "desired_config"


class ConfigOutcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # same or older version: nothing to do
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ConfigDecision:
    outcome: ConfigOutcome
    config: HubConfig | None
    error: str | None = None


def decide(current: HubConfig | None, payload: bytes) -> ConfigDecision:
    """Pure: what a received desired-config message does to the applied configuration."""
    try:
        desired = parse_message(HubConfig, payload)
    except InvalidHubMessage as exc:
        return ConfigDecision(ConfigOutcome.REJECTED, current, str(exc)[:500])
    serials = [e.serial for e in desired.whitelist]
    if len(set(serials)) != len(serials):
        return ConfigDecision(ConfigOutcome.REJECTED, current, "a device serial appears twice in the whitelist")
    addresses = [e.address for e in desired.whitelist if e.address]
    if len(set(addresses)) != len(addresses):
        return ConfigDecision(ConfigOutcome.REJECTED, current, "a BLE address appears twice in the whitelist")
    if current is not None and desired.version <= current.version:
        return ConfigDecision(ConfigOutcome.UNCHANGED, current)
    return ConfigDecision(ConfigOutcome.APPLIED, desired)


class ConfigKeeper:
    """The applied configuration and who wants to know when it changes."""

    def __init__(self, outbox: Outbox, now: Callable[[], datetime]) -> None:
        self._outbox = outbox
        self._now = now
        stored = outbox.get_state(CONFIG_KEY)
        self.config: HubConfig | None = HubConfig.model_validate_json(stored) if stored else None
        self.errors: list[str] = []
        self._listeners: list[Callable[[HubConfig], None]] = []

    @property
    def version(self) -> int:
        return self.config.version if self.config else 0

    def whitelist(self) -> list[WhitelistEntry]:
        return list(self.config.whitelist) if self.config else []

    def entry_for_address(self, address: str) -> WhitelistEntry | None:
        wanted = address.upper()
        return next((e for e in self.whitelist() if e.address == wanted), None)

    def entry_for_serial(self, serial: str) -> WhitelistEntry | None:
        return next((e for e in self.whitelist() if e.serial == serial), None)

    def on_change(self, listener: Callable[[HubConfig], None]) -> None:
        self._listeners.append(listener)

    def apply(self, payload: bytes) -> ConfigDecision:
        decision = decide(self.config, payload)
        if decision.outcome is ConfigOutcome.REJECTED:
            self.errors = [decision.error or "invalid"]
        elif decision.outcome is ConfigOutcome.APPLIED and decision.config is not None:
            self._outbox.set_state(CONFIG_KEY, decision.config.model_dump_json())
            self.config = decision.config
            self.errors = []
            for listener in self._listeners:
                listener(decision.config)
        return decision

    def reported(self) -> ReportedConfig:
        return ReportedConfig(version=self.version, applied_at=self._now(), errors=self.errors)

"""Commands from the cloud (``down/cmd``, :class:`core.hub_messages.HubCommand`) and their results
(``up/cmd/result``).

Each ``cmd_id`` runs at most once: its id is recorded in the outbox file before the result is
published, so a command redelivered after a reconnect (QoS 1, persistent session) or a restart only
repeats its result. A command past ``expires_at`` is not run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from core.hub_messages import (
    CommandOutcome,
    CommandResult,
    CommandType,
    HubCommand,
    InvalidHubMessage,
    parse_message,
)
from gateway.outbox import Outbox

logger = logging.getLogger(__name__)

DONE_PREFIX = "cmd_done:"


class DeviceControl(Protocol):
    """What commands ask of the BLE side (implemented by :class:`gateway.devices.DeviceManager`)."""

    def request_time_sync(self) -> None: ...

    def download_all(self, serial: str) -> bool: ...

    async def unpair(self, serial: str) -> bool: ...


class CommandRunner:
    def __init__(
        self,
        outbox: Outbox,
        devices: DeviceControl,
        *,
        now: Callable[[], datetime],
        resend: Callable[[], None],
        rebirth: Callable[[], Awaitable[None]],
    ) -> None:
        self._outbox = outbox
        self._devices = devices
        self._now = now
        self._resend = resend
        self._rebirth = rebirth

    async def handle(self, payload: bytes) -> CommandResult | None:
        """Run one command message; None when it cannot even be identified (logged)."""
        try:
            command = parse_message(HubCommand, payload)
        except InvalidHubMessage as exc:
            logger.warning("unreadable command", extra={"error": str(exc)[:200]})
            return None
        done_key = DONE_PREFIX + command.cmd_id
        earlier = await asyncio.to_thread(self._outbox.get_state, done_key)
        if earlier is not None:
            return CommandResult.model_validate_json(earlier)
        result = await self._run(command)
        await asyncio.to_thread(self._outbox.set_state, done_key, result.model_dump_json())
        logger.info("command", extra={"cmd_id": command.cmd_id, "type": command.type.value, "result": result.result})
        return result

    def _result(self, command: HubCommand, outcome: CommandOutcome, detail: str | None = None) -> CommandResult:
        return CommandResult(cmd_id=command.cmd_id, result=outcome, at=self._now(), detail=detail)

    async def _run(self, command: HubCommand) -> CommandResult:
        if self._now() > command.expires_at:
            return self._result(command, CommandOutcome.EXPIRED)
        kind = command.type
        if kind is CommandType.RESEND_SINCE:
            if command.since is None:
                return self._result(command, CommandOutcome.ERROR, "resend_since needs since")
            count = await asyncio.to_thread(self._outbox.requeue_since, command.since)
            self._resend()
            return self._result(command, CommandOutcome.OK, f"{count} readings queued again")
        if kind is CommandType.TIME_SYNC:
            self._devices.request_time_sync()
            return self._result(command, CommandOutcome.OK, "device clocks are set at their next connection")
        if kind is CommandType.REBIRTH:
            await self._rebirth()
            return self._result(command, CommandOutcome.OK)
        if command.device_serial is None:
            return self._result(command, CommandOutcome.ERROR, f"{kind.value} needs device_serial")
        if kind is CommandType.UNPAIR:
            ok = await self._devices.unpair(command.device_serial)
            return self._result(command, CommandOutcome.OK if ok else CommandOutcome.ERROR, None if ok else "unknown")
        ok = self._devices.download_all(command.device_serial)  # DOWNLOAD_ALL, the last type
        return self._result(command, CommandOutcome.OK if ok else CommandOutcome.ERROR, None if ok else "unknown")

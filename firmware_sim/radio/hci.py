"""bumble's virtual controller and host, as the radio needs them: no HCI packet formatted for a debug
line nobody reads, and a scanning controller that filters duplicate advertising reports when the host
asks for it, as real controllers do.

bumble 0.0.236 logs each HCI packet on its way between host and controller with
``logger.debug(f"...: {packet}")``: the f-string renders the packet (field by field, with ANSI colours)
before ``logging`` decides to drop the line. On the virtual radio every advertising report, ATT PDU
and acknowledgement crosses four such lines, and the rendering was the largest single cost of the
50-home fleet benchmark (about a quarter of the event loop's time, py-spy). These subclasses pass
packets on exactly as bumble does and render them only when bumble's debug logging is on.

bumble's virtual controller records the Filter_Duplicates parameter of LE Set Scan Enable but reports
every advertising PDU (twice: as the advertisement and as its scan response). A real controller with
the filter on reports each advertiser once per scan enable (Core Vol 4 Part E §7.8.11), again only
when its advertising data changes; BlueZ scans that way. With 5 devices advertising every 100 ms per
home, the unfiltered reports were most of what the event loop did in the fleet benchmark."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bumble import hci, ll
from bumble.controller import Controller
from bumble.host import Host

_CONTROLLER_LOG = logging.getLogger("bumble.controller")
_HOST_LOG = logging.getLogger("bumble.host")


class QuietController(Controller):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reported: set[tuple[bytes, bytes]] = set()
        """(advertiser address, advertising data) already reported since scanning was enabled."""

    def on_hci_le_set_scan_enable_command(
        self, command: hci.HCI_LE_Set_Scan_Enable_Command
    ) -> hci.HCI_StatusReturnParameters:
        self._reported.clear()
        return super().on_hci_le_set_scan_enable_command(command)

    def on_hci_le_set_extended_scan_enable_command(
        self, command: hci.HCI_LE_Set_Extended_Scan_Enable_Command
    ) -> hci.HCI_StatusReturnParameters:
        self._reported.clear()
        return super().on_hci_le_set_extended_scan_enable_command(command)

    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        if (
            self.le_scan_enable
            and self.filter_duplicates
            and not self.pending_periodic_advertising_syncs
            and not self.established_periodic_advertising_syncs
        ):
            key = (bytes(pdu.advertiser_address), bytes(pdu.data))
            if key in self._reported:
                # No report; the PDU still answers a pending connection, as in bumble's own handler.
                pending = self.pending_le_connection
                if pending is not None and pending.peer_address == pdu.advertiser_address:
                    self.create_le_connection(pdu.advertiser_address)
                return
            self._reported.add(key)
        super().on_advertising_pdu(pdu)

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if _CONTROLLER_LOG.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
        elif isinstance(packet, hci.HCI_Command):
            self.on_hci_command_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        elif isinstance(packet, hci.HCI_Event):
            self.on_hci_event_packet(packet)
        else:
            super().on_hci_packet(packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if _CONTROLLER_LOG.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
        elif self.host:
            asyncio.get_running_loop().call_soon(self.host.on_packet, bytes(packet))


class QuietHost(Host):
    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.snooper or _HOST_LOG.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
        elif isinstance(packet, hci.HCI_Event):
            self.on_hci_event_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        else:
            super().on_hci_packet(packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.snooper or _HOST_LOG.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
        elif self.hci_sink:
            self.hci_sink.on_packet(bytes(packet))

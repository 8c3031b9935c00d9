"""A firmware_sim device model's GATT table (:attr:`SimulatedPeripheral.services`, as data) turned into
bumble GATT services whose reads, writes and CCCD writes are delegated to the model.

The model checks security itself and answers ATT 0x05/0x0F the way a BlueZ collector expects, so the
bumble attributes carry no encryption permissions of their own. Every notify/indicate characteristic
gets its own Client Characteristic Configuration descriptor (Bluetooth Core Vol 3 Part G §3.3.3.3) so
a CCCD write reaches the model (``subscribe``), which may refuse it with an ATT error.
"""

from __future__ import annotations

from typing import Protocol

from bumble import att, gatt
from bumble.gatt_server import Server

from firmware_sim.devices.gatt_table import Characteristic, Property, Service
from firmware_sim.gatt.att import AttError

PROPERTIES = {
    Property.READ: gatt.Characteristic.Properties.READ,
    Property.WRITE: gatt.Characteristic.Properties.WRITE,
    Property.NOTIFY: gatt.Characteristic.Properties.NOTIFY,
    Property.INDICATE: gatt.Characteristic.Properties.INDICATE,
}
OPEN = att.Attribute.Permissions.READABLE | att.Attribute.Permissions.WRITEABLE


class AttHandler(Protocol):
    """What a GATT server asks of the peripheral that serves a model."""

    def read(self, characteristic: str) -> bytes: ...

    def write(self, characteristic: str, value: bytes) -> None: ...

    def configure(self, characteristic: str, enable: bool) -> None:
        """A CCCD write: enable (or disable) notifications or indications."""


def as_att_error(exc: AttError) -> att.ATT_Error:
    return att.ATT_Error(error_code=int(exc.code), message=exc.reason)


def bumble_services(
    services: tuple[Service, ...],
    handler: AttHandler,
    server: Server,
) -> list[gatt.Service]:
    """Bumble services for the model's services; a CCCD write the model accepts is recorded in the
    bumble ``server`` (per connection, so indications reach that subscriber)."""
    return [gatt.Service(s.uuid, [_characteristic(c, handler, server) for c in s.characteristics]) for s in services]


def _characteristic(
    spec: Characteristic,
    handler: AttHandler,
    server: Server,
) -> gatt.Characteristic[bytes]:
    properties = gatt.Characteristic.Properties(0)
    for p in spec.properties:
        properties |= PROPERTIES[p]

    def read(_connection: object) -> bytes:
        try:
            return handler.read(spec.uuid)
        except AttError as exc:
            raise as_att_error(exc) from exc

    def write(_connection: object, value: bytes) -> None:
        try:
            handler.write(spec.uuid, bytes(value))
        except AttError as exc:
            raise as_att_error(exc) from exc

    characteristic: gatt.Characteristic[bytes] = gatt.Characteristic(
        spec.uuid, properties, OPEN, gatt.CharacteristicValue(read=read, write=write)
    )
    if spec.properties & {Property.NOTIFY, Property.INDICATE}:
        characteristic.descriptors = [_cccd(spec.uuid, characteristic, handler, server)]
    return characteristic


def _cccd(
    uuid: str,
    characteristic: gatt.Characteristic[bytes],
    handler: AttHandler,
    server: Server,
) -> gatt.Descriptor:
    def read(bearer: att.Bearer) -> bytes:
        return server.read_cccd(bearer, characteristic)

    def write(bearer: att.Bearer, value: bytes) -> None:
        value = bytes(value)
        if len(value) != 2:
            raise att.ATT_Error(error_code=att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)
        try:
            handler.configure(uuid, enable=value != bytes(2))
        except AttError as exc:
            raise as_att_error(exc) from exc
        server.write_cccd(bearer, characteristic, value)

    return gatt.Descriptor(
        gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR, OPEN, att.AttributeValueV2(read=read, write=write)
    )

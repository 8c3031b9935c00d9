"""Fails loudly when bleak's backend hooks or the bumble internals the radio relies on change.

The virtual radio subclasses bleak's ``BaseBleakClient``/``BaseBleakScanner`` and reaches into
bumble's LocalLink and controller (link loss, advertising now); both libraries are pinned exactly in
constraints.txt. Upgrading either means reading their changes and updating the recorded values here
together with the backend, not just bumping a pin."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner
from bumble import att, controller, gatt_server, link

from firmware_sim.radio.client import VirtualBleakClient
from firmware_sim.radio.scanner import VirtualBleakScanner

PINNED = {"bleak": "3.1.0", "bumble": "0.0.236"}

CLIENT_HOOKS = {
    "__init__": "(self, address_or_ble_device: bleak.backends.device.BLEDevice | str, *, "
    "disconnected_callback: collections.abc.Callable[[], None] | None, timeout: float, **kwargs: Any) -> None",
    "connect": "(self, pair: bool, **kwargs: Any) -> None",
    "disconnect": "(self) -> None",
    "is_connected": "(self) -> bool",
    "mtu_size": "(self) -> int",
    "pair": "(self, *args: Any, **kwargs: Any) -> None",
    "unpair": "(self) -> None",
    "read_gatt_char": "(self, characteristic: bleak.backends.characteristic.BleakGATTCharacteristic, *, "
    "use_cached: bool = False, **kwargs: Any) -> bytearray",
    "read_gatt_descriptor": "(self, descriptor: bleak.backends.descriptor.BleakGATTDescriptor, *, "
    "use_cached: bool = False, **kwargs: Any) -> bytearray",
    "write_gatt_char": "(self, characteristic: bleak.backends.characteristic.BleakGATTCharacteristic, "
    "data: bleak.args.SizedBuffer, response: bool) -> None",
    "write_gatt_descriptor": "(self, descriptor: bleak.backends.descriptor.BleakGATTDescriptor, "
    "data: bleak.args.SizedBuffer) -> None",
    "start_notify": "(self, characteristic: bleak.backends.characteristic.BleakGATTCharacteristic, "
    "callback: collections.abc.Callable[[bytearray], None], **kwargs: Any) -> None",
    "stop_notify": "(self, characteristic: bleak.backends.characteristic.BleakGATTCharacteristic) -> None",
}
SCANNER_HOOKS = {
    "__init__": "(self, detection_callback: Optional[collections.abc.Callable[[bleak.backends.device.BLEDevice, "
    "bleak.backends.scanner.AdvertisementData], Optional[collections.abc.Coroutine[Any, Any, None]]]], "
    "service_uuids: Optional[list[str]])",
    "start": "(self) -> None",
    "stop": "(self) -> None",
}
BUMBLE_INTERNALS: set[tuple[Any, str]] = {
    # link loss: both controllers report a supervision timeout
    (link.LocalLink, "controllers"),
    (controller.Controller, "le_connections"),
    (controller.Controller, "on_le_disconnected"),
    # a pending connect does not wait an advertising interval
    (controller.Controller, "pending_le_connection"),
    (controller.Controller, "le_legacy_advertiser"),
    (controller.LegacyAdvertiser, "send_advertising_data"),
    (controller.AdvertisingSet, "send_extended_advertising_data"),
    # CCCD writes reach the device model before bumble records the subscription
    (gatt_server.Server, "read_cccd"),
    (gatt_server.Server, "write_cccd"),
    (att, "AttributeValueV2"),
}


def _signature(cls: type, name: str) -> str:
    attribute = inspect.getattr_static(cls, name)
    function = attribute.fget if isinstance(attribute, property) else attribute
    assert callable(function)
    return str(inspect.signature(function))


def test_bleak_and_bumble_are_the_pinned_versions() -> None:
    assert {name: version(name) for name in PINNED} == PINNED


def test_bleak_client_backend_hooks_are_the_ones_the_virtual_client_implements() -> None:
    assert set(BaseBleakClient.__abstractmethods__) == set(CLIENT_HOOKS) - {"__init__"}
    assert {name: _signature(BaseBleakClient, name) for name in CLIENT_HOOKS} == CLIENT_HOOKS
    assert not inspect.isabstract(VirtualBleakClient)
    for name in CLIENT_HOOKS:
        assert name in VirtualBleakClient.__dict__, f"VirtualBleakClient does not implement {name}"


def test_bleak_scanner_backend_hooks_are_the_ones_the_virtual_scanner_implements() -> None:
    assert set(BaseBleakScanner.__abstractmethods__) == set(SCANNER_HOOKS) - {"__init__"}
    assert {name: _signature(BaseBleakScanner, name) for name in SCANNER_HOOKS} == SCANNER_HOOKS
    assert not inspect.isabstract(VirtualBleakScanner)


def test_bleak_front_ends_still_take_a_backend_class() -> None:
    for front_end in (BleakClient, BleakScanner):
        parameter = inspect.signature(front_end.__init__).parameters["backend"]
        assert parameter.kind == inspect.Parameter.KEYWORD_ONLY


def test_bumble_internals_the_radio_reaches_into_exist() -> None:
    missing = {f"{owner.__name__}.{name}" for owner, name in BUMBLE_INTERNALS if not _has(owner, name)}
    assert missing == set()


def _has(owner: object, name: str) -> bool:
    if hasattr(owner, name):
        return True
    # dataclass fields and instance attributes annotated on the class
    return name in getattr(owner, "__annotations__", {})

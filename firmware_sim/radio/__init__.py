"""The virtual BLE radio: a bleak backend on Google's bumble stack carrying real advertising, ATT/GATT
and SMP between a hub's central and firmware_sim device models (DESIGN.md §7; docs/firmware-sim.md)."""

from firmware_sim.radio.peripheral import SimulatedPeripheral
from firmware_sim.radio.radio import BleakBackends, VirtualRadio

__all__ = ["BleakBackends", "SimulatedPeripheral", "VirtualRadio"]

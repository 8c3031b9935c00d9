"""Simulated BLE health devices as transport-free state machines.

Each model is a :class:`~firmware_sim.devices.peripheral.SimulatedPeripheral`: GATT table, advertised
name and security as data; ``connect``/``subscribe``/``read``/``write``/``measure``/``transmit`` as the
events a radio would deliver. The next issue puts each behind a bumble GATT server.
"""

"""Simulated device firmware: lifelike physiological series (``physiology``), encoders for the SIG
health profiles written from the specification (``gatt``), transport-free BLE device models
(``devices``) and cellular vendor payloads (``cellular``), each with the ground truth a decoder must
recover (``intent``). See ``docs/firmware-sim.md``."""

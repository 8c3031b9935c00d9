"""Encoders for the Bluetooth SIG health profiles, written from the specification
(``reference/ble-health-profiles.md``) and independent of the decoders in ``drivers/``.

Each profile module turns a protocol-level *sample* (the values a device firmware holds before it
transmits) into the exact characteristic bytes and, alongside, the ground truth a round-trip test
compares a decoder's output with (:class:`firmware_sim.intent.IntendedMeasurement`)."""

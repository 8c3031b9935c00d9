"""Simulated cellular RPM devices: the payloads each vendor's cloud (or the device itself) posts to
carehub, traps included (``reference/cellular-and-logistics.md`` §1), with the ground truth a
normaliser must recover from them (:class:`~firmware_sim.cellular.delivery.IntendedVendorMessage`)."""

"""Bluetooth SIG UUIDs of the health services and characteristics the simulated devices serve.

A SIG 16-bit UUID ``0xXXXX`` stands for ``0000XXXX-0000-1000-8000-00805f9b34fb`` (Bluetooth Core
Specification, Vol 3 Part B §2.5.1; reference §1.1). UUIDs are kept in bleak's form, lower-case and
128-bit, so a gateway can compare them without normalising. Vendor UUIDs are not derived from the base.
"""

from __future__ import annotations

from firmware_sim.errors import SimulationError

_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"


def sig_uuid(short: int) -> str:
    """The 128-bit string form of a SIG-assigned 16-bit UUID."""
    if not 0 <= short <= 0xFFFF:
        raise SimulationError(f"a 16-bit UUID is 0..0xFFFF, not {short:#x}")
    return f"0000{short:04x}{_BASE_SUFFIX}"


# Services (reference §1.2)
BLOOD_PRESSURE_SERVICE = sig_uuid(0x1810)
GLUCOSE_SERVICE = sig_uuid(0x1808)
WEIGHT_SCALE_SERVICE = sig_uuid(0x181D)
BODY_COMPOSITION_SERVICE = sig_uuid(0x181B)
PULSE_OXIMETER_SERVICE = sig_uuid(0x1822)
HEALTH_THERMOMETER_SERVICE = sig_uuid(0x1809)
CURRENT_TIME_SERVICE = sig_uuid(0x1805)
BATTERY_SERVICE = sig_uuid(0x180F)
DEVICE_INFORMATION_SERVICE = sig_uuid(0x180A)

# Blood Pressure
BLOOD_PRESSURE_MEASUREMENT = sig_uuid(0x2A35)
INTERMEDIATE_CUFF_PRESSURE = sig_uuid(0x2A36)
BLOOD_PRESSURE_FEATURE = sig_uuid(0x2A49)

# Glucose
GLUCOSE_MEASUREMENT = sig_uuid(0x2A18)
GLUCOSE_MEASUREMENT_CONTEXT = sig_uuid(0x2A34)
GLUCOSE_FEATURE = sig_uuid(0x2A51)
RECORD_ACCESS_CONTROL_POINT = sig_uuid(0x2A52)

# Weight Scale
WEIGHT_MEASUREMENT = sig_uuid(0x2A9D)
WEIGHT_SCALE_FEATURE = sig_uuid(0x2A9E)

# Body Composition
BODY_COMPOSITION_MEASUREMENT = sig_uuid(0x2A9C)
BODY_COMPOSITION_FEATURE = sig_uuid(0x2A9B)

# Pulse Oximeter
PLX_SPOT_CHECK_MEASUREMENT = sig_uuid(0x2A5E)
PLX_CONTINUOUS_MEASUREMENT = sig_uuid(0x2A5F)
PLX_FEATURES = sig_uuid(0x2A60)

# Health Thermometer
TEMPERATURE_MEASUREMENT = sig_uuid(0x2A1C)
TEMPERATURE_TYPE = sig_uuid(0x2A1D)
INTERMEDIATE_TEMPERATURE = sig_uuid(0x2A1E)
MEASUREMENT_INTERVAL = sig_uuid(0x2A21)

# Time, battery, device information
DATE_TIME = sig_uuid(0x2A08)
CURRENT_TIME = sig_uuid(0x2A2B)
BATTERY_LEVEL = sig_uuid(0x2A19)
MANUFACTURER_NAME = sig_uuid(0x2A29)
MODEL_NUMBER = sig_uuid(0x2A24)
SERIAL_NUMBER = sig_uuid(0x2A25)
HARDWARE_REVISION = sig_uuid(0x2A27)
FIRMWARE_REVISION = sig_uuid(0x2A26)
SOFTWARE_REVISION = sig_uuid(0x2A28)
SYSTEM_ID = sig_uuid(0x2A23)

# Vendor (matched in full, never derived from the SIG base; reference §1.1, §11)
AND_VENDOR_SERVICE = "233bf000-5a34-1b6d-975c-000d5690abe4"
AND_VENDOR_CHARACTERISTIC = "233bf001-5a34-1b6d-975c-000d5690abe4"

"""Typed errors of the device simulators (CONVENTIONS.md "Two outcomes for bad input")."""

from __future__ import annotations

from core.errors import CarehubError


class SimulationError(CarehubError):
    """Base class of the simulators' own errors."""


class NotRepresentable(SimulationError, ValueError):
    """A value cannot be carried by a field at the resolution its firmware uses (for example 120.05 mmHg
    in an SFLOAT with exponent 0). Simulations must quantise first, so their intent is exact."""


class DeviceUnavailable(SimulationError):
    """The device cannot do what was asked now: its battery is flat, or it is not connected."""

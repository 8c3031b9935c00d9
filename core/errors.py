"""The root of carehub's typed errors. Errors convert to these at each boundary
(``raise CarehubError(...) from exc``) so callers can tell carehub's failures from bugs."""

from __future__ import annotations


class CarehubError(Exception):
    """Base class of every error carehub raises on purpose."""


class InvalidDomainValue(CarehubError, ValueError):
    """A domain value object was constructed with values that break its invariants."""


class ConfigurationError(CarehubError):
    """Settings or the environment cannot support what was asked (with advice for the operator)."""

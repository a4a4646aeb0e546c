"""Helpers for exercising a mock-cotter server the way real clients do.

Names load on first use, so that importing one helper (the pytest plugin
needs only the client) does not import them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_cotter.testing.client import (
        CotterAdminError,
        CotterServer,
        VirtualClock,
    )
    from mock_cotter.testing.devices import (
        CotterHTTPError,
        TrustedDevice,
        device_public_key,
    )

_MODULES = {
    "CotterAdminError": "client",
    "CotterServer": "client",
    "VirtualClock": "client",
    "CotterHTTPError": "devices",
    "TrustedDevice": "devices",
    "device_public_key": "devices",
}

__all__ = [
    "CotterAdminError",
    "CotterHTTPError",
    "CotterServer",
    "TrustedDevice",
    "VirtualClock",
    "device_public_key",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])

"""Helpers for exercising a mock-cotter server the way real clients do."""

from mock_cotter.testing.devices import CotterHTTPError, TrustedDevice

__all__ = ["CotterHTTPError", "TrustedDevice"]

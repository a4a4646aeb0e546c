"""mock-cotter: a local stand-in for the Cotter passwordless-authentication API."""

from __future__ import annotations

__version__ = "0.1.0"

from .app import create_app
from .server import MockCotterServer

__all__ = ["MockCotterServer", "__version__", "create_app"]

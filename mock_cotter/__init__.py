"""mock-cotter: a local stand-in for the Cotter passwordless-authentication API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .app import create_app
    from .server import MockCotterServer

__all__ = ["MockCotterServer", "__version__", "create_app"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the pytest plugin imports this package in every
    # test run, and Flask, pydantic and cryptography take a while to import.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "MockCotterServer":
        from .server import MockCotterServer

        return MockCotterServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Serving the app over real HTTP: the in-process server handle, and the
request handler that keeps the ``API_KEY_ID`` header."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app, runtime_of
from .runtime import Runtime

logger = logging.getLogger(__name__)

# How often the serving loop checks for a stop request; it bounds stop time.
POLL_INTERVAL = 0.005


class CotterRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, but keeping header names that contain ``_``.

    Werkzeug drops such headers (``API_KEY_ID`` and ``API_SECRET_KEY`` are
    two) because ``API_KEY_ID`` and ``API-KEY-ID`` map to the same WSGI key.
    Every Cotter SDK sends them with underscores, so a Cotter mock must keep
    them.
    """

    def make_environ(self):
        environ = super().make_environ()
        for name, value in self.headers.items():
            if "_" in name:
                key = "HTTP_" + name.upper().replace("-", "_")
                environ.setdefault(key, value.replace("\r\n", ""))
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The app logs every request itself (mock_cotter.access), with the
        # API key and duration.
        pass


def make_wsgi_server(
    app: Flask, host: str = "127.0.0.1", port: int = 0
) -> BaseWSGIServer:
    """A threaded Werkzeug server for ``app`` that keeps underscore headers."""
    server = make_server(
        host, port, app, threaded=True, request_handler=CotterRequestHandler
    )
    # Don't wait for keep-alive connections (a requests.Session, say) to
    # close when stopping.
    server.block_on_close = False
    server.daemon_threads = True
    return server


class MockCotterServer:
    """A mock-cotter server in a background thread, for use from any Python.

    >>> with MockCotterServer() as server:
    ...     server.api_url   # 'http://127.0.0.1:<port>/api/v0'

    ``port=0`` picks a free port. The socket is listening when :meth:`start`
    returns, so no readiness polling is needed.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: Mapping[str, Any] | None = None,
    ):
        if app is not None and config is not None:
            raise ValueError("Pass either an app or a config, not both.")
        self.app = app if app is not None else create_app(config)
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.app)

    @property
    def url(self) -> str:
        """The server's root URL (the hosted login page is at ``/app``)."""
        if self._server is None:
            raise RuntimeError("The server is not running; call start() first.")
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The URL the SDKs use as their Cotter base URL."""
        return f"{self.url}/api/v0"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> MockCotterServer:
        if self._server is not None:
            raise RuntimeError("The server is already running.")
        self._server = make_wsgi_server(self.app, self.host, self.port)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name=f"mock-cotter:{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("mock-cotter serving at %s", self.url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None
        logger.info("mock-cotter on port %s stopped", self.port)

    def __enter__(self) -> MockCotterServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self._server else "stopped"
        return f"<MockCotterServer {state}>"

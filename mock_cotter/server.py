"""Serving the app over real HTTP: the in-process server handle, and the
Werkzeug request handler that keeps the ``API_KEY_ID`` header and keeps
connections alive."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from .app import create_app, runtime_of
from .runtime import Runtime

logger = logging.getLogger(__name__)

# How often the serving loop checks for a stop request; it bounds stop time.
POLL_INTERVAL = 0.005

# A connection kept alive is closed after this long without a request. It
# is far above any pause between a test's requests, and frees the thread of
# a client that went away without closing.
KEEP_ALIVE_IDLE_SECONDS = 60

# A request body up to this size is read to its end after the answer, so the
# connection can carry the next request; a larger one closes the connection
# instead of being read for nothing.
KEEP_ALIVE_MAX_BODY = 1 << 20

# Bytes of an answer gathered before they are sent: most answers fit, so a
# head and its body go out in one send.
WRITE_BUFFER_SIZE = 1 << 16

# The limits http.client puts on a request's head: longer lines and more
# header fields are answered 431, as the standard library's parser does.
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100

# Set in the WSGI environ when the answer failed part-way: its bytes on the
# wire are incomplete, so the connection cannot carry another request.
_ANSWER_FAILED = "mock_cotter.answer_failed"


class _RequestBody:
    """The request body as a stream that ends at ``Content-Length``.

    Werkzeug reads "whatever is left" on the socket after each answer, which
    is only safe when the connection is closed next; this stream stops at the
    body's end, so the next request on the connection stays unread.
    """

    def __init__(self, raw, length: int):
        self._raw = raw
        self.remaining = length

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        if size == 0:
            return b""
        data = self._raw.read(size)
        self.remaining -= len(data)
        if not data:
            self.remaining = 0
        return data

    def readline(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        if size == 0:
            return b""
        data = self._raw.readline(size)
        self.remaining -= len(data)
        if not data:
            self.remaining = 0
        return data

    def drain(self) -> bool:
        """Read what the app left unread; false if the client hung up first."""
        while self.remaining:
            if not self.read(65536):
                return False
        return True


class CotterRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, keeping underscore headers and idle connections.

    Werkzeug drops header names that contain ``_`` (``API_KEY_ID`` and
    ``API_SECRET_KEY`` are two) because ``API_KEY_ID`` and ``API-KEY-ID`` map
    to the same WSGI key. Every Cotter SDK sends them with underscores, so a
    Cotter mock must keep them.

    Werkzeug also closes the connection after every answer. A test suite's
    HTTP session sends hundreds of small requests, and opening a connection
    for each costs more than the mock takes to answer, so an HTTP/1.1
    request with a body of known, modest length keeps its connection open.

    Two more savings matter at that rate, about a tenth of a small
    request's CPU between them: answers are written through a buffer that
    Werkzeug flushes after each body chunk, so a head and its body leave in
    one send; and header fields are read without the standard library's
    email parser, which is built for mail and costs more than the rest of
    the request's parsing.
    """

    protocol_version = "HTTP/1.1"
    timeout = KEEP_ALIVE_IDLE_SECONDS
    wbufsize = WRITE_BUFFER_SIZE
    _keep_alive = False

    def setup(self) -> None:
        super().setup()
        # Werkzeug sends the head and the body of an answer separately;
        # with Nagle's algorithm on, the body of every answer after the
        # first on a connection would wait for the client's delayed ACK.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not a TCP socket (a Unix socket, say)
        track = getattr(self.server, "track_connection", None)
        if track is not None:
            track(self.connection, add=True)

    def finish(self) -> None:
        track = getattr(self.server, "track_connection", None)
        if track is not None:
            track(self.connection, add=False)
        super().finish()

    def handle_one_request(self) -> None:
        # Set again by run_wsgi; until then an answer (an error about the
        # request line or head) keeps its "Connection: close".
        self._keep_alive = False
        super().handle_one_request()

    def parse_request(self) -> bool:
        """The request line and header fields, for the common case: a
        request line of three words in HTTP/1.0 or 1.1. Anything else goes
        to the standard library's parser, which answers it as it always
        has."""
        line = self.raw_requestline.decode("iso-8859-1").rstrip("\r\n")
        words = line.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
            return super().parse_request()
        self.requestline = line
        self.command, self.path, self.request_version = words
        if self.path.startswith("//"):
            # As the standard library does: '//host' would read as a URL.
            self.path = "/" + self.path.lstrip("/")
        self.close_connection = self.request_version != "HTTP/1.1"
        headers = self._read_headers()
        if headers is None:
            return False
        self.headers = headers
        connection = headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        expect = headers.get("Expect", "").lower()
        if expect == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def _read_headers(self) -> http.client.HTTPMessage | None:
        """The header fields, or None once a 431 has been sent."""
        fields: list[list[str]] = []
        while True:
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if len(line) > MAX_HEADER_LINE:
                self.send_error(431, "Line too long", "header line")
                return None
            if line in (b"\r\n", b"\n", b""):
                break
            text = line.decode("iso-8859-1")
            if text[0] in " \t" and fields:
                # An obsolete folded line continues the field before it.
                fields[-1][1] += " " + text.strip()
                continue
            if len(fields) >= MAX_HEADERS:
                self.send_error(431, "Too many headers")
                return None
            name, _, value = text.partition(":")
            fields.append([name.strip(), value.strip()])
        headers = http.client.HTTPMessage()
        for name, value in fields:
            headers.set_raw(name, value)
        return headers

    def handle_expect_100(self) -> bool:
        # The interim answer must leave now, not wait in the write buffer:
        # the client holds the body back until it comes.
        self.send_response_only(100)
        self.end_headers()
        self.wfile.flush()
        return True

    def make_environ(self):
        environ = super().make_environ()
        for name, value in self.headers.items():
            if "_" in name:
                key = "HTTP_" + name.upper().replace("-", "_")
                environ.setdefault(key, value.replace("\r\n", ""))
        return environ

    def run_wsgi(self) -> None:
        length = self._declared_body_length()
        self._keep_alive = (
            length is not None
            and length <= KEEP_ALIVE_MAX_BODY
            and self.request_version == "HTTP/1.1"
            and not self.close_connection
        )
        if length is None:
            super().run_wsgi()
            return
        raw, body = self.rfile, _RequestBody(self.rfile, length)
        # Werkzeug reads the body, and skips what is left of it after the
        # answer, through self.rfile; the bounded stream keeps both inside
        # this request.
        self.rfile = body
        try:
            super().run_wsgi()
        finally:
            self.rfile = raw
        if not self._keep_alive:
            return
        if self.environ.get(_ANSWER_FAILED) or not body.drain():
            self.close_connection = True

    def _declared_body_length(self) -> int | None:
        """The request body's length, or None when it is chunked or unclear."""
        if "Transfer-Encoding" in self.headers:
            return None
        declared = self.headers.get("Content-Length", "0").strip()
        return int(declared) if declared.isdigit() else None

    def send_header(self, keyword: str, value: str) -> None:
        # Werkzeug adds "Connection: close" to every answer.
        if self._keep_alive and keyword.lower() == "connection":
            return
        super().send_header(keyword, value)

    def connection_dropped(self, error, environ=None) -> None:
        self.close_connection = True

    def log_error(self, format: str, *args: Any) -> None:
        # An idle keep-alive connection timing out is routine, not an error.
        if format.startswith("Request timed out"):
            logger.debug("closing an idle connection from %s", self.address_string())
            return
        super().log_error(format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The app logs every request itself (mock_cotter.access), with the
        # API key and duration.
        pass


def _flag_failed_answers(app):
    """Wrap a WSGI app to mark, in its environ, an answer that failed
    part-way, so the connection under it is closed rather than reused."""

    def app_flagging_failures(environ, start_response) -> Iterable[bytes]:
        body = None
        try:
            body = app(environ, start_response)
            yield from body
        except BaseException:
            environ[_ANSWER_FAILED] = True
            raise
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return app_flagging_failures


class CotterWSGIServer(ThreadedWSGIServer):
    """A threaded Werkzeug server that knows its open connections, so that
    stopping it also ends the keep-alive connections clients still hold."""

    # Don't wait for connection threads when closing; close_connections()
    # ends them.
    block_on_close = False
    daemon_threads = True

    def __init__(self, host: str, port: int, app: Flask):
        super().__init__(host, port, _flag_failed_answers(app), CotterRequestHandler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track_connection(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut every open connection, so a client's pooled connection gets
        an error instead of answers from a stopped server."""
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def server_close(self) -> None:
        super().server_close()
        self.close_connections()


def make_wsgi_server(
    app: Flask, host: str = "127.0.0.1", port: int = 0
) -> CotterWSGIServer:
    """A threaded Werkzeug server for ``app`` that keeps underscore headers
    and keep-alive connections."""
    return CotterWSGIServer(host, port, app)


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
        self._server: CotterWSGIServer | None = None
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

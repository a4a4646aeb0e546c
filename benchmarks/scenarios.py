"""Reset and scenario-loading times.

    python benchmarks/scenarios.py [--runs 200] [--granian] [--url URL]

- reset: `POST /_mock/reset` for one API key that holds 1,000 users and
  1,000 events, as the bare `Runtime.reset` call, as the mock's access log
  times the request (from its first hook to its last: the app's own work),
  and over real HTTP, client included;
- loading a scenario: parsing and validating a file, and
  `PUT /_mock/scenario` plus the first request that loads its users.

``--granian`` also times the reset against ``mock-cotter serve --server
granian``, started here with a fixtures folder holding a 1,000-user
scenario: each key is filled by choosing it by name, as a test would.
``--url`` times it against any running server; that server does not know
the scenario, so each key gets it as an inline document, and the reset
then also frees that document's 2,000 parsed entries (measured here:
about 0.7 ms more than the state alone).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mock_cotter import MockCotterServer
from mock_cotter.models import Event, User
from mock_cotter.scenarios import load_file
from mock_cotter.scenarios.loader import bundled_dir


class Client:
    """One keep-alive connection, as a test suite's HTTP session keeps."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def call(self, method: str, path: str, key: str, body=None) -> int:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"API_KEY_ID": key, "Content-Type": "application/json"}
        self.connection.request(method, path, payload, headers)
        response = self.connection.getresponse()
        response.read()
        return response.status


def fill(server: MockCotterServer, key: str, count: int = 1000) -> None:
    with server.runtime.context(key) as ctx:
        for n in range(count):
            user = User(f"u{n}", f"u{n}", f"u{n}@x.io", 0.0, 0.0)
            ctx.ns.add_user(user)
            ctx.ns.save_event(
                Event(
                    n + 1,
                    user.id,
                    user.id,
                    key,
                    "LOGIN",
                    "",
                    "",
                    "0",
                    "TRUSTED_DEVICE",
                    True,
                    False,
                    0.0,
                    0.0,
                )
            )


class AccessTimes(logging.Handler):
    """The durations the mock's access log records for requests to ``path``."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        # access_logger.info("%s %s %s %.1fms key=%s", method, path, ...)
        _, path, _, elapsed_ms, _ = record.args
        if path == self.path:
            self.seconds.append(elapsed_ms / 1000)


def access_logged_resets(
    server: MockCotterServer, client: Client, runs: int
) -> list[float]:
    """The app's own time for each reset, as the access log records it.

    A pass of its own, with the access log on only for it, so that the
    other figures do not pay for the log records.
    """
    access = AccessTimes("/_mock/reset")
    access_log = logging.getLogger("mock_cotter.access")
    level, propagate = access_log.level, access_log.propagate
    access_log.addHandler(access)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
    try:
        for run in range(runs):
            key = f"logged-{run}"
            fill(server, key)
            assert client.call("POST", "/_mock/reset", key) == 200
    finally:
        access_log.removeHandler(access)
        access_log.setLevel(level)
        access_log.propagate = propagate
    return access.seconds


def report(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{name:<58} median {statistics.median(ms):7.3f} ms  p95 {p95:7.3f} ms")


BIG_SCENARIO = {
    "users": [{"identifier": f"u{n}@x.io"} for n in range(1000)],
    "events": [
        {"user": f"u{n}@x.io", "ip": "1.2.3.4", "location": "X"} for n in range(1000)
    ],
}


BIG_SCENARIO_NAME = "benchmark-1000"


def external(url: str, runs: int, choose: dict) -> list[float]:
    """Reset over HTTP against a running server: each key is filled with
    1,000 users and 1,000 pending events by the scenario ``choose`` names
    (or holds inline) and its first request."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    client = Client(port)
    times = []
    for run in range(runs):
        key = f"external-{run}"
        assert client.call("PUT", "/_mock/scenario", key, choose) == 200
        assert client.call("GET", "/api/v0/user?identifier=u1@x.io", key) == 200
        began = time.perf_counter()
        assert client.call("POST", "/_mock/reset", key) == 200
        times.append(time.perf_counter() - began)
    return times


def wait_until_listening(url: str, timeout: float = 20.0) -> None:
    """Granian's workers start listening after the URL line is printed."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            http.client.HTTPConnection(host, int(port), timeout=1).connect()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def granian(runs: int) -> None:
    """The reset against ``mock-cotter serve --server granian``, which knows
    the 1,000-user scenario from its fixtures folder."""
    with tempfile.TemporaryDirectory() as folder:
        scenario = {"description": "1,000 users and events", **BIG_SCENARIO}
        Path(folder, f"{BIG_SCENARIO_NAME}.json").write_text(json.dumps(scenario))
        process = subprocess.Popen(
            [sys.executable, "-m", "mock_cotter", "serve", "--server", "granian"]
            + ["--port", "0", "--fixtures", folder, "--log-level", "warning"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            url = re.search(r"http://[\d.]+:\d+", process.stdout.readline()).group()
            wait_until_listening(url)
            times = external(url, runs, {"name": BIG_SCENARIO_NAME})
        finally:
            process.terminate()
            process.wait(timeout=10)
    report("POST /_mock/reset, serve --server granian", times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--granian",
        action="store_true",
        help="Also time the reset against mock-cotter serve --server granian.",
    )
    parser.add_argument(
        "--url", help="Also time the reset against this running server's root URL."
    )
    args = parser.parse_args()
    if args.granian:
        granian(args.runs)
    if args.url:
        times = external(args.url, min(args.runs, 50), {"scenario": BIG_SCENARIO})
        report(f"POST /_mock/reset at {args.url} (inline scenario)", times)

    with MockCotterServer() as server:
        client = Client(server.port)
        bare, over_http = [], []
        for run in range(args.runs):
            key = f"bench-{run}"
            fill(server, key)
            began = time.perf_counter()
            server.runtime.reset(key)
            bare.append(time.perf_counter() - began)

            fill(server, key)
            began = time.perf_counter()
            assert client.call("POST", "/_mock/reset", key) == 200
            over_http.append(time.perf_counter() - began)
        in_app = access_logged_resets(server, client, args.runs)
        report("Runtime.reset(key), 1,000 users and events", bare)
        report("POST /_mock/reset in the app, as its access log times it", in_app)
        report("POST /_mock/reset over HTTP, 1,000 users and events", over_http)

        path = bundled_dir() / "demo.yaml"
        parsed = []
        for _ in range(args.runs):
            began = time.perf_counter()
            load_file(path)
            parsed.append(time.perf_counter() - began)
        report("parse and validate demo.yaml", parsed)

        applied = []
        for run in range(args.runs):
            key = f"scenario-{run}"
            began = time.perf_counter()
            client.call("PUT", "/_mock/scenario", key, {"name": "demo"})
            client.call("GET", "/api/v0/user?identifier=alice@example.com", key)
            applied.append(time.perf_counter() - began)
        report("PUT /_mock/scenario demo + first request (loads users)", applied)


if __name__ == "__main__":
    main()

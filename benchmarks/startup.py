"""Start-up and stop times: the in-process server and `mock-cotter serve`.

    python benchmarks/startup.py [--runs 20]

Prints the median and worst of each figure, in milliseconds.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import time

from mock_cotter import MockCotterServer


def first_health(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/_mock/health")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
    finally:
        connection.close()


def in_process(runs: int) -> tuple[list[float], list[float]]:
    starts, stops = [], []
    for _ in range(runs):
        began = time.perf_counter()
        server = MockCotterServer().start()
        first_health(server.port)
        starts.append(time.perf_counter() - began)

        began = time.perf_counter()
        server.stop()
        stops.append(time.perf_counter() - began)
    return starts, stops


def serve_command(runs: int) -> list[float]:
    """From the command starting to its first 200."""
    firsts = []
    for _ in range(runs):
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "mock_cotter", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = process.stdout.readline()
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        first_health(port)
        firsts.append(time.perf_counter() - began)
        process.terminate()
        process.communicate(timeout=10)
    return firsts


def report(name: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(f"{name:<42} median {statistics.median(ms):7.2f} ms   max {max(ms):7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    # The first start pays for imports; it is measured like a cold start
    # by `serve` below, so warm up once.
    MockCotterServer().start().stop()
    starts, stops = in_process(args.runs)
    report("in-process: start() to first 200", starts)
    report("in-process: stop()", stops)
    report(
        "mock-cotter serve: launch to first 200", serve_command(max(3, args.runs // 4))
    )


if __name__ == "__main__":
    main()

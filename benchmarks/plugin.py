"""What the pytest plugin costs: session start-up, the per-test fixture, and
a suite of 200 trivial tests with and without ``cotter_server``.

    python benchmarks/plugin.py [--runs 7]

Every suite runs in a fresh ``python -m pytest`` subprocess, in a scratch
folder of its own, with bytecode caching on (as an installed package runs)
and after one untimed warm-up run; figures are medians over the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = 200

# A plugin for the timed pytest runs: it writes how long each test's
# set-up, call and teardown took, as pytest measured them.
TIMER = """
import json, os

durations = []

def pytest_runtest_logreport(report):
    durations.append((report.nodeid, report.when, report.duration))

def pytest_sessionfinish(session):
    with open(os.environ["BENCH_DURATIONS"], "w") as out:
        json.dump(durations, out)
"""


def write_suite(folder: Path) -> None:
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "bench_timer.py").write_text(TIMER)
    with_server = "".join(
        f"def test_{n}(cotter_server):\n    assert cotter_server.api_key\n\n"
        for n in range(TESTS)
    )
    without = "".join(f"def test_{n}():\n    assert True\n\n" for n in range(TESTS))
    (folder / "test_with_server.py").write_text(with_server)
    (folder / "test_without_server.py").write_text(without)


def run_pytest(folder: Path, *args: str) -> tuple[float, float, list]:
    """Wall time and CPU time of one pytest run, and its per-phase durations.

    CPU time (user + system, the server thread's included) shows the cost
    even when other work on the machine stretches the wall time.
    """
    out = folder / "durations.json"
    env = {**_environment(), "BENCH_DURATIONS": str(out)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    cpu_before = _children_cpu()
    began = time.perf_counter()
    done = subprocess.run(
        [*command, "-p", "bench_timer", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - began
    cpu = _children_cpu() - cpu_before
    if done.returncode != 0:
        raise SystemExit(f"pytest {' '.join(args)} failed:\n{done.stdout}")
    return elapsed, cpu, json.loads(out.read_text())


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MOCK_COTTER_URL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# Session start-up as the plugin does it, in a fresh interpreter where
# pytest has already loaded the plugin: what the first test waits for. The
# plugin imports the server (Flask, pydantic, cryptography) only then; that
# import is timed apart from starting the server.
STARTUP = """
import time
import mock_cotter.pytest_plugin as plugin
began = time.perf_counter()
import mock_cotter.server
imported = time.perf_counter()
service = plugin.CotterService.start()
service.client().health()
print(imported - began, time.perf_counter() - imported)
service.stop()
"""


def reset_round_trips(count: int = 500) -> tuple[list[float], list[float]]:
    """The teardown's reset, timed alone, in this process: straight through
    the runtime (what the plugin does in process) and as ``POST
    /_mock/reset`` (what it does against an external server)."""
    from mock_cotter.pytest_plugin import CotterService

    service = CotterService.start()
    direct, over_http = [], []
    try:
        for _ in range(count):
            server = service.client()
            server.health()
            began = time.perf_counter()
            service.server.runtime.reset(server.api_key)
            direct.append(time.perf_counter() - began)
            began = time.perf_counter()
            server.reset()
            over_http.append(time.perf_counter() - began)
    finally:
        service.stop()
    return direct, over_http


def session_startup() -> tuple[float, float]:
    """Seconds to import the server's dependencies, then to start it."""
    done = subprocess.run(
        [sys.executable, "-c", STARTUP],
        capture_output=True,
        text=True,
        check=True,
        env=_environment(),
    )
    imported, started = done.stdout.split()
    return float(imported), float(started)


def between_tests(durations: list) -> list[float]:
    """Each test's set-up plus teardown, the first test's left out (its
    set-up starts the server)."""
    per_test: dict[str, float] = {}
    for nodeid, when, seconds in durations:
        if when in ("setup", "teardown"):
            per_test[nodeid] = per_test.get(nodeid, 0.0) + seconds
    return list(per_test.values())[1:]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    median = statistics.median

    session_startup()  # warm-up: writes the bytecode caches
    startups = [session_startup() for _ in range(args.runs)]
    direct_resets, http_resets = reset_round_trips()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        write_suite(folder)
        suites = {
            "with": ["test_with_server.py"],
            "without": ["test_without_server.py"],
            "unused": ["-p", "no:mock_cotter", "test_without_server.py"],
        }
        wall: dict[str, list[float]] = {name: [] for name in suites}
        cpu: dict[str, list[float]] = {name: [] for name in suites}
        for suite_args in suites.values():
            run_pytest(folder, *suite_args)  # warm-up
        fixture: list[float] = []
        plain: list[float] = []
        for _ in range(args.runs):
            # Interleaved, so that load on the machine hits all alike.
            for name, suite_args in suites.items():
                elapsed, used, durations = run_pytest(folder, *suite_args)
                wall[name].append(elapsed)
                cpu[name].append(used)
                if name == "with":
                    fixture.extend(between_tests(durations))
                elif name == "without":
                    plain.extend(between_tests(durations))

    def added(name: str, base: str, times: dict[str, list[float]]) -> float:
        return median(times[name]) - median(times[base])

    print(f"{args.runs} runs of each; medians")
    imports = median(s[0] for s in startups)
    starts = median(s[1] for s in startups)
    print(f"first use: importing Flask, pydantic, ...     {ms(imports)}")
    print(f"session start-up (start to first answer)     {ms(starts)}")
    print(f"reset in process (Runtime.reset)              {ms(median(direct_resets))}")
    print(f"reset external (POST /_mock/reset, round trip){ms(median(http_resets))}")
    print(
        "per test: cotter_server set-up + teardown     "
        f"{ms(median(fixture) - median(plain))}"
    )
    for name in ("without", "with"):
        print(
            f"{TESTS} tests {name + ' cotter_server':<25}      "
            f"{ms(median(wall[name]))} wall {ms(median(cpu[name]))} CPU"
        )
    print(
        f"added by cotter_server over {TESTS} tests        "
        f"{ms(added('with', 'without', wall))} wall "
        f"{ms(added('with', 'without', cpu))} CPU"
    )
    print(
        "plugin installed, unused (vs -p no:mock_cotter)"
        f"{ms(added('without', 'unused', wall))} wall "
        f"{ms(added('without', 'unused', cpu))} CPU"
    )


if __name__ == "__main__":
    main()

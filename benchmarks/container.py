"""The Docker image: time to healthy, and throughput measured with wrk.

    python benchmarks/container.py [--runs 5] [--duration 10] [--storage overlay]
                                   [--env KEY=VALUE ...]
    python benchmarks/container.py --compare-state-file [--rounds 5] [--duration 5]

Builds the image as the container tests do (Docker, else podman; an
unchanged image is reused), then:

* start-up: ``create`` (with podman's vfs driver this copies the whole
  image; with ``--storage overlay`` it does not, as with Docker's overlay2),
  then ``start`` to the first 200 from ``/_mock/health``;
* throughput of the image's own server settings, on loopback, with wrk
  (2 threads, 32 connections, bounded in time): ``GET /api/v0/token/jwks``
  and the token refresh ``POST /api/v0/token/<key>``.

The refresh run sets ``MOCK_COTTER_REFRESH_REUSE=allow`` so that wrk can
replay one refresh token: each request still verifies it, rotates and signs
two new JWTs, but none is refused as reused. ``--env`` adds settings to the
throughput container (``--env MOCK_COTTER_LOG_LEVEL=warning``, say).
wrk shares the machine's cores with the server, as a test suite would.

``--compare-state-file`` answers one question: how much slower the refresh is
with ``MOCK_COTTER_STATE_FILE`` than in memory. On a shared virtual machine
throughput drifts by a fifth or more between minutes, which swamps that
difference when the two are measured apart, so it runs both containers side
by side (only one under load at a time) and alternates short wrk runs
between them, then compares the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
API_KEY = "benchmark"

TARGET_HEALTHY_SECONDS = 2.0
TARGET_JWKS_RPS = 4000
TARGET_REFRESH_RPS = 1500
# The refresh with a state file may be at most this much slower than in memory.
TARGET_STATE_FILE_SLOWDOWN = 0.30


def load_container_helpers():
    """The engine and build helpers of the container tests, so that the
    benchmark builds and runs the image exactly as they do."""
    path = REPO_ROOT / "tests" / "container" / "conftest.py"
    spec = importlib.util.spec_from_file_location("container_helpers", path)
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: its dataclasses look their module up.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def startup(engine, image: str, runs: int) -> None:
    creates, readies = [], []
    for _ in range(runs):
        began = time.perf_counter()
        container = engine.create(image)
        created = time.perf_counter()
        try:
            container.start()
            container.wait_until_ready()
            ready = time.perf_counter()
        finally:
            container.remove()
        creates.append(created - began)
        readies.append(ready - created)

    totals = [c + r for c, r in zip(creates, readies, strict=True)]
    report_times("create", creates)
    report_times("start to first 200 from /_mock/health", readies)
    report_times("run (create + start) to first 200", totals)
    verdict = "met" if statistics.median(totals) < TARGET_HEALTHY_SECONDS else "MISSED"
    storage = ""
    if engine.name == "podman":
        storage = f", {os.environ.get('MOCK_COTTER_PODMAN_STORAGE', 'vfs')} storage"
    print(
        f"  target: run to healthy < {TARGET_HEALTHY_SECONDS:.0f} s: {verdict}"
        f" ({engine.name}{storage})"
    )


def report_times(name: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(f"{name:<42} median {statistics.median(ms):8.1f} ms   max {max(ms):8.1f} ms")


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "API_KEY_ID": API_KEY},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wrk(url: str, duration: int, script: Path | None = None) -> dict:
    """Run wrk once and return req/s, p99 latency (ms) and non-2xx count."""
    argv = ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    result = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=duration + 30, check=True
    )
    output = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
    p99_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": rps,
        "p99_ms": p99_ms,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def refresh_script(folder: Path, refresh_token: str) -> Path:
    body = json.dumps({"grant_type": "refresh_token", "refresh_token": refresh_token})
    script = folder / "refresh.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [==[{body}]==]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        # With underscores, as every SDK sends it.
        f'wrk.headers["API_KEY_ID"] = "{API_KEY}"\n'
    )
    return script


def refresh_target(container, folder: Path) -> tuple[str, Path]:
    """The refresh URL of a ready container and a wrk script for it."""
    minted = post_json(f"{container.url}/_mock/tokens", {"identifier": "b@x.io"})
    script = refresh_script(folder, minted["oauth_token"]["refresh_token"])
    return f"{container.api_url}/token/{API_KEY}", script


def compare_state_file(engine, image: str, rounds: int, duration: int) -> None:
    env = {"MOCK_COTTER_REFRESH_REUSE": "allow"}
    settings = {
        "memory": env,
        "state file": {**env, "MOCK_COTTER_STATE_FILE": "/data/state.db"},
    }
    figures: dict[str, list[dict]] = {name: [] for name in settings}
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as folder:
        targets = {}
        for number, (name, container_env) in enumerate(settings.items()):
            container = engine.run(image, env=container_env)
            stack.callback(container.remove)
            container.wait_until_ready()
            scripts = Path(folder, str(number))
            scripts.mkdir()
            targets[name] = refresh_target(container, scripts)
        for url, script in targets.values():
            wrk(url, 2, script)  # warm-up
        for number in range(rounds):
            # Alternate which goes first, so neither always follows the
            # other's load.
            order = list(targets) if number % 2 == 0 else list(targets)[::-1]
            for name in order:
                url, script = targets[name]
                figures[name].append(wrk(url, duration, script))

    print(f"refresh, {rounds} alternating rounds of {duration} s each:")
    for name, runs in figures.items():
        rates = [run["rps"] for run in runs]
        p99s = [run["p99_ms"] for run in runs]
        errors = sum(run["non_2xx"] for run in runs)
        print(
            f"  {name:<11} median {statistics.median(rates):7.0f} req/s "
            f"(range {min(rates):.0f} to {max(rates):.0f})   "
            f"p99 median {statistics.median(p99s):6.2f} ms   non-2xx {errors}"
        )
    ratios = [
        s["rps"] / m["rps"]
        for m, s in zip(figures["memory"], figures["state file"], strict=True)
    ]
    slowdown = 1 - statistics.median(ratios)
    verdict = "met" if slowdown <= TARGET_STATE_FILE_SLOWDOWN else "MISSED"
    print(
        f"  state file vs memory, median of the rounds' ratios: {slowdown:.1%} "
        f"slower (rounds: {', '.join(f'{1 - r:.0%}' for r in ratios)}); "
        f"target within {TARGET_STATE_FILE_SLOWDOWN:.0%}: {verdict}"
    )


def throughput(engine, image: str, duration: int, extra_env: dict) -> None:
    env = {"MOCK_COTTER_REFRESH_REUSE": "allow", **extra_env}
    container = engine.run(image, env=env)
    try:
        container.wait_until_ready()
        minted = post_json(f"{container.url}/_mock/tokens", {"identifier": "b@x.io"})
        refresh_token = minted["oauth_token"]["refresh_token"]
        settings = ", ".join(f"{k}={v}" for k, v in env.items())
        print(f"server: the image's Granian settings, plus {settings}")

        with tempfile.TemporaryDirectory() as folder:
            runs = [
                ("GET /api/v0/token/jwks", f"{container.api_url}/token/jwks", None),
                (
                    "POST /api/v0/token/<key> (refresh)",
                    f"{container.api_url}/token/{API_KEY}",
                    refresh_script(Path(folder), refresh_token),
                ),
            ]
            targets = (TARGET_JWKS_RPS, TARGET_REFRESH_RPS)
            for (name, url, script), target in zip(runs, targets, strict=True):
                wrk(url, 2, script)  # warm-up
                figures = wrk(url, duration, script)
                verdict = "met" if figures["rps"] >= target else "MISSED"
                print(
                    f"{name:<36} {figures['rps']:8.0f} req/s   "
                    f"p99 {figures['p99_ms']:7.2f} ms   "
                    f"non-2xx {figures['non_2xx']}   "
                    f"target >= {target} req/s: {verdict}"
                )
    finally:
        container.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="start-up runs (0 skips them)"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--storage",
        choices=("vfs", "overlay"),
        help="podman's storage driver (default: vfs, as the container tests use); "
        "overlay does not copy the image on each run, as Docker's overlay2",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra MOCK_COTTER_* setting for the throughput container",
    )
    parser.add_argument(
        "--compare-state-file",
        action="store_true",
        help="only compare the refresh with a state file against memory, "
        "alternating between two containers",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of --compare-state-file"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    extra_env = dict(item.split("=", 1) for item in args.env)
    if args.storage:
        os.environ["MOCK_COTTER_PODMAN_STORAGE"] = args.storage
    helpers = load_container_helpers()
    engine = helpers.find_engine()
    began = time.perf_counter()
    image = helpers.build_image(engine)
    print(f"image {image} ready in {time.perf_counter() - began:.1f} s ({engine.name})")

    if args.compare_state_file:
        compare_state_file(engine, image, args.rounds, args.duration)
        return
    if args.runs > 0:
        startup(engine, image, args.runs)
    throughput(engine, image, args.duration, extra_env)


if __name__ == "__main__":
    main()

"""The ``mock-cotter`` command, run as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import requests


def start_serve(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_cotter", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = process.stdout.readline()
    match = re.search(r"(http://\S+)/api/v0", line)
    if not match:
        _, stderr = stop(process)
        raise AssertionError(f"no URL in {line!r}; stderr: {stderr}")
    return process, match.group(1)


def stop(process: subprocess.Popen) -> tuple[int, str]:
    """SIGTERM, as a container runtime sends; the exit code and stderr."""
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    return process.returncode, stderr


def test_serve_prints_its_url_serves_and_stops_on_sigterm():
    process, url = start_serve()
    try:
        response = requests.get(
            url + "/api/v0/notification/company",
            headers={"API_KEY_ID": "cli-key"},
            timeout=10,
        )
    finally:
        code, stderr = stop(process)

    assert response.status_code == 200
    assert code == 0
    assert "GET /api/v0/notification/company 200" in stderr


def test_serve_reads_settings_from_flags_and_environment():
    process, url = start_serve(
        "--api-keys", "only-this", env={"MOCK_COTTER_REFRESH_REUSE": "allow"}
    )
    try:
        refused = requests.get(
            url + "/api/v0/notification/company",
            headers={"API_KEY_ID": "another"},
            timeout=10,
        )
    finally:
        stop(process)

    assert refused.status_code == 403


def test_a_bad_flag_value_exits_2_with_a_one_line_reason():
    result = subprocess.run(
        [sys.executable, "-m", "mock_cotter", "serve", "--refresh-reuse", "never"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "'never' is not one of 'revoke', 'allow'" in result.stderr


def test_a_bad_environment_value_exits_2_naming_the_variable():
    result = subprocess.run(
        [sys.executable, "-m", "mock_cotter", "serve"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "MOCK_COTTER_SEED": "abc"},
    )

    assert result.returncode == 2
    assert "MOCK_COTTER_SEED" in result.stderr


def test_help_lists_every_setting_with_its_variable():
    result = subprocess.run(
        [sys.executable, "-m", "mock_cotter", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0
    for variable in ("MOCK_COTTER_SEED", "MOCK_COTTER_KEY_FILE", "MOCK_COTTER_PORT"):
        assert variable in result.stdout

"""The ``mock-cotter`` command, run as a real process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
import requests

from mock_cotter.keys import KeySet


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


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mock_cotter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_keys_prints_the_bundled_public_keys():
    result = run_cli("keys")

    keys = json.loads(result.stdout)
    assert result.returncode == 0
    assert keys["source"] == "bundled test keys"
    assert keys["jwks"]["keys"][0]["kid"].startswith("SPACE_JWT_PUBLIC:")
    assert keys["jwt_public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")


def test_keys_generate_writes_a_file_that_serve_and_keys_accept(tmp_path):
    path = tmp_path / "keys.json"

    written = run_cli("keys", "generate", str(path), "--seed", "5")
    shown = run_cli("keys", "--key-file", str(path))
    again = run_cli("keys", "generate", str(path))

    assert written.returncode == 0
    assert json.loads(shown.stdout)["jwks"] == KeySet.generate(5).jwks()
    assert again.returncode == 2
    assert "--force" in again.stderr


def test_token_mints_an_access_token_that_verifies_with_the_keys():
    result = run_cli(
        "token",
        "--api-key",
        "backend-key",
        "--identifier",
        "cli@example.com",
        "--claims",
        '{"role": "admin"}',
        "--access-token",
    )

    assert result.returncode == 0, result.stderr
    claims = jwt.decode(
        result.stdout.strip(),
        jwt.PyJWK(KeySet.load().jwk()),
        algorithms=["ES256"],
        audience="backend-key",
    )
    assert claims["identifier"] == "cli@example.com"
    assert claims["role"] == "admin"


def test_token_through_a_running_server_gives_a_refresh_token_it_accepts(server):
    result = run_cli(
        "token", "--api-key", "cli-key", "--identifier", "c@x.io", "--url", server.url
    )
    token = json.loads(result.stdout)

    refreshed = requests.post(
        server.api_url + "/token/cli-key",
        json={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        headers={"API_KEY_ID": "cli-key"},
        timeout=10,
    )

    assert refreshed.status_code == 200


def test_token_with_bad_claims_exits_2():
    result = run_cli(
        "token", "--api-key", "k", "--identifier", "a@b.c", "--claims", "["
    )

    assert result.returncode == 2
    assert "--claims" in result.stderr


def test_fixtures_check_passes_the_bundled_files():
    folder = Path(__file__).parent.parent / "fixtures"

    result = run_cli("fixtures", "check", str(folder))

    assert result.returncode == 0, result.stderr
    assert f"ok: {folder / 'denied.yaml'} (scenario denied)" in result.stdout


def test_fixtures_check_reports_every_problem_with_file_and_line(tmp_path):
    (tmp_path / "good.yaml").write_text("description: fine\n")
    (tmp_path / "typo.yaml").write_text("pending:\n  outcom: approved\n")
    (tmp_path / "syntax.yaml").write_text("pending: [\n")

    result = run_cli("fixtures", "check", str(tmp_path))

    assert result.returncode == 1
    assert "typo.yaml" in result.stderr
    assert "line 2: pending.outcom: unknown field; allowed here:" in result.stderr
    assert "syntax.yaml" in result.stderr
    assert "YAML syntax error" in result.stderr
    assert "2 of 3 files are invalid" in result.stderr


def test_fixtures_schema_prints_the_published_schema():
    result = run_cli("fixtures", "schema")

    schema_file = Path(__file__).parent.parent / "fixtures" / "scenario.schema.json"
    published = json.loads(schema_file.read_text())
    assert json.loads(result.stdout) == published


def test_serve_with_an_unknown_scenario_exits_2_listing_the_known_ones():
    result = run_cli("serve", "--port", "0", "--scenario", "nope")

    assert result.returncode == 2
    assert "Unknown scenario 'nope'" in result.stderr
    assert "denied" in result.stderr


def test_serve_logs_json_lines_when_asked():
    process, url = start_serve("--log-format", "json", "--scenario", "denied")
    try:
        requests.get(url + "/_mock/health", timeout=10)
    finally:
        _, stderr = stop(process)

    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    started = next(line for line in lines if "listening on" in line["message"])
    assert "scenario: denied" in started["message"]
    assert "keys: bundled test keys" in started["message"]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen) -> None:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}")
        try:
            requests.get(url + "/_mock/health", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("the granian server never answered")


def test_serve_with_granian_keeps_the_api_key_header_and_stops_on_sigterm():
    import http.client

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_cotter", "serve", "--server", "granian"]
        + ["--port", str(port), "--scenario", "denied"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.putrequest("GET", "/_mock/scenario")
        connection.putheader("API_KEY_ID", "granian-key")
        connection.endheaders()
        answer = connection.getresponse()
        scenario = json.loads(answer.read())
        connection.close()
    finally:
        code, stderr = stop(process)

    assert answer.status == 200, stderr
    # The flag reached the worker process, and the header reached the app.
    assert scenario["name"] == "denied"
    assert code == 0
    assert "GET /_mock/scenario 200" in stderr
    assert "key=granian-key" in stderr


def test_serve_with_granian_on_port_0_prints_the_port_it_serves_on():
    process, url = start_serve("--server", "granian")
    try:
        wait_for_health(url, process)
    finally:
        code, _ = stop(process)

    assert not url.endswith(":0")
    assert code == 0


@pytest.mark.parametrize("server_kind", ["werkzeug", "granian"])
def test_a_drop_fault_is_logged_as_dropped_without_a_traceback(server_kind):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_cotter", "serve", "--server", server_kind]
        + ["--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    headers = {"API_KEY_ID": "drop-key"}
    try:
        wait_for_health(url, process)
        faults = {"faults": [{"path": "/api/v0/user/list", "drop": True}]}
        requests.put(url + "/_mock/faults", json=faults, headers=headers, timeout=10)
        # Granian has sent the head when the body breaks off.
        broken = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
        with pytest.raises(broken):
            requests.get(url + "/api/v0/user/list", headers=headers, timeout=10)
    finally:
        code, stderr = stop(process)

    assert code == 0
    assert "GET /api/v0/user/list dropped" in stderr
    assert "Traceback" not in stderr


def test_several_workers_need_a_state_file_and_granian():
    without_state = run_cli("serve", "--server", "granian", "--workers", "2")
    with_werkzeug = run_cli("serve", "--workers", "2", "--state-file", "x.db")

    assert without_state.returncode == 2
    assert "--state-file" in without_state.stderr
    assert with_werkzeug.returncode == 2
    assert "--server granian" in with_werkzeug.stderr


def test_granian_workers_sharing_a_state_file_rotate_one_chain_exactly(tmp_path):
    # Each request on a new connection, so both workers take turns; each
    # keeps decoded records only while the other has not written the file.
    process, url = start_serve(
        "--server", "granian", "--workers", "2",
        "--state-file", str(tmp_path / "state.sqlite3"),
    )  # fmt: skip
    headers = {"API_KEY_ID": "workers-key"}

    def refresh(token: str) -> requests.Response:
        body = {"grant_type": "refresh_token", "refresh_token": token}
        with requests.Session() as fresh:
            return fresh.post(
                url + "/api/v0/token/workers-key",
                json=body,
                headers=headers,
                timeout=10,
            )

    try:
        wait_for_health(url, process)
        minted = requests.post(
            url + "/_mock/tokens",
            json={"identifier": "w@example.com"},
            headers=headers,
            timeout=10,
        ).json()["oauth_token"]["refresh_token"]
        token, answers = minted, []
        for _ in range(20):
            answers.append(refresh(token))
            token = answers[-1].json().get("refresh_token", token)
        reused = refresh(minted)
        after_reuse = refresh(token)
    finally:
        code, stderr = stop(process)

    assert [a.status_code for a in answers] == [200] * 20, stderr
    assert reused.status_code == 400
    # The reuse revoked the whole family, in whichever worker saw it.
    assert after_reuse.status_code == 400
    assert "revoked" in after_reuse.json()["msg"]
    assert code == 0

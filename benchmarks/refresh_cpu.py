"""Server CPU per token refresh (two ES256 JWTs signed, one rotation).

    python benchmarks/refresh_cpu.py [--count 2000] [--state-file PATH]

Drives the app through Flask's test client in this process and divides the
process CPU time by the number of refreshes, so the figure includes the
WSGI and routing cost of each request, not only the signing. With
``--state-file`` the state is kept in that SQLite file (created if missing)
instead of in memory; the CPU figure then includes SQLite's work, and the
wall time its writes.
"""

from __future__ import annotations

import argparse
import time

from mock_cotter import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument(
        "--state-file", help="keep state in this SQLite file instead of in memory"
    )
    args = parser.parse_args()

    config: dict[str, object] = {"seed": 1}
    if args.state_file:
        config["state_file"] = args.state_file
    client = create_app(config).test_client()
    headers = {"API_KEY_ID": "bench"}
    minted = client.post(
        "/_mock/tokens", json={"identifier": "b@x.io"}, headers=headers
    )
    refresh_token = minted.get_json()["oauth_token"]["refresh_token"]

    def refresh(token: str) -> str:
        response = client.post(
            "/api/v0/token/bench",
            json={"grant_type": "refresh_token", "refresh_token": token},
            headers=headers,
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()["refresh_token"]

    for _ in range(50):
        refresh_token = refresh(refresh_token)

    cpu = time.process_time()
    wall = time.perf_counter()
    for _ in range(args.count):
        refresh_token = refresh(refresh_token)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall

    print(f"store:                {args.state_file or 'in memory'}")
    print(f"refreshes:            {args.count}")
    print(f"CPU per refresh:      {cpu / args.count * 1000:.3f} ms")
    print(f"wall time per refresh {wall / args.count * 1000:.3f} ms")


if __name__ == "__main__":
    main()

"""gRPC keepalive against the in-process Milvus Lite server (issue 11, defect 8).

pymilvus pings every channel every 10 s, even with no call in flight; Lite's gRPC server keeps grpc's
defaults, under which such pings count as strikes and end in a `too_many_pings` GOAWAY, logged as an error
line each time. A Lite connection must not send keepalive pings at all: the server is in the same process.
grpc's own trace (GRPC_TRACE=http_keepalive) shows every keepalive ping a client sends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys, time
from retriever.connection import open_connection
conn = open_connection(sys.argv[1])
conn.has_collection("x")
time.sleep(12)  # longer than pymilvus' 10 s keepalive interval
conn.has_collection("x")
conn.close()
"""


def assert_no_keepalive_pings(uri: str) -> None:
    """Run SCRIPT against `uri` with grpc's keepalive trace on: no ping sent, no GOAWAY received."""
    env = {**os.environ, "GRPC_VERBOSITY": "debug", "GRPC_TRACE": "http_keepalive"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, uri],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    pings = [line for line in proc.stderr.splitlines() if "Finish keepalive ping" in line]
    assert "too_many_pings" not in proc.stderr
    assert pings == [], pings[:3]


def test_a_lite_connection_sends_no_keepalive_pings(tmp_path: Path) -> None:
    assert_no_keepalive_pings(str(tmp_path / "milvus.db"))


def test_a_loopback_server_connection_sends_no_keepalive_pings(server_uri: str) -> None:
    """The engine served on this machine (`python -m retriever.lite_server`) enforces the same ping policy:
    under load a shared test server answered a new client with `too_many_pings` GOAWAYs."""
    assert_no_keepalive_pings(server_uri)


def test_only_loopback_servers_go_without_keepalive() -> None:
    from retriever.engine import is_loopback_uri as _is_loopback

    loopback = ["http://127.0.0.1:19530", "http://localhost:19530", "https://[::1]:443", "http://127.8.0.1:1"]
    remote = ["http://milvus:19530", "https://10.0.0.5:19530", "http://example.org:19530"]
    assert all(_is_loopback(uri) for uri in loopback)
    assert not any(_is_loopback(uri) for uri in remote)

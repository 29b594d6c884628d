"""Cross-process behaviour: the Milvus Lite lock, and the server-URI path via `milvus-lite server`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from retriever.errors import StoreLockedError, StoreUnavailableError
from retriever.store import IndexStore
from tests.retriever.helpers import CONFIG, add_doc, make_doc, make_page, unit

REPO = Path(__file__).resolve().parents[2]
MILVUS_LITE = Path(sys.executable).with_name("milvus-lite")

# A child that holds the index open until its stdin closes.
_HOLDER = """
import sys
from retriever.store import IndexStore
store = IndexStore.open(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
store.close()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def test_second_process_gets_store_locked_error(db_path: Path) -> None:
    with IndexStore.open(db_path, CONFIG) as store:
        add_doc(store, "d", [make_page("d", 1, "held")])
    # Our close released the data dir, so the child can take it.
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db_path)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError) as info:
            IndexStore.open(db_path)
        assert not info.value.retriable and "vtrag serve" in str(info.value) and "--server" in str(info.value)
    finally:
        child.communicate(input="", timeout=60)
    with IndexStore.open(db_path) as store:  # released again once the holder exits
        assert store.get_doc("d") is not None


def test_unreachable_server_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError) as info:
        IndexStore.open(f"http://127.0.0.1:{_free_port()}", CONFIG)
    assert info.value.retriable


def test_server_uri_path(tmp_path: Path) -> None:
    if not MILVUS_LITE.exists():
        pytest.skip(f"{MILVUS_LITE} not installed: cannot test the server-URI path without Docker")
    port = _free_port()
    cmd = [
        str(MILVUS_LITE),
        "server",
        "--data-dir",
        str(tmp_path / "srv"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not _wait_for_port(port, server, seconds=30):
            err = (
                server.stderr.read().decode(errors="replace")[-500:]
                if server.stderr and server.poll() is not None
                else ""
            )
            pytest.skip(f"`milvus-lite server` did not start on port {port}: {err or 'timeout'}")
        uri = f"http://127.0.0.1:{port}"
        toks = torch.randn(273, 1280).to(torch.bfloat16)
        with IndexStore.open(uri, CONFIG) as store:
            store.begin_doc(make_doc("s"))
            store.write_pages([make_page("s", 1, "served over grpc", unit(0))], {1: toks})
            store.complete_doc("s")
        with IndexStore.open(uri) as store:  # a second client, as another process would
            assert store.config == CONFIG
            assert [h.page.page_id for h in store.search("grpc", unit(0), top_k=3)] == ["s:1"]
            assert torch.equal(store.get_tokens(["s:1"])["s:1"].view(torch.int16), toks.view(torch.int16))
            assert store.stats()["pages"] == 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

"""Small hand-made pages, documents and configs for the retriever tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from retriever.records import DocRecord, DocStatus, IndexConfig, PageRecord, TextLine
from retriever.store import IndexStore

REPO = Path(__file__).resolve().parents[2]
TEXT_DIM = 8
VISION_DIM = 6
CONFIG = IndexConfig(text_model="test-mini", text_dim=TEXT_DIM, mode="base")
VISION_CONFIG = IndexConfig(
    text_model="test-mini", text_dim=TEXT_DIM, mode="base", encoder="test-enc", vision_dim=VISION_DIM
)


def unit(i: int, dim: int = TEXT_DIM, noise: float = 0.0) -> np.ndarray:
    """Basis vector e_i (plus a little of every other axis, if asked), L2-normalised."""
    v = np.full(dim, noise, dtype=np.float32)
    v[i] = 1.0
    return v / np.linalg.norm(v)


def make_page(
    doc_id: str,
    page_no: int,
    text: str,
    text_vec: np.ndarray | None = None,
    *,
    text_source: str = "pdf",
    vision_vec: np.ndarray | None = None,
) -> PageRecord:
    """A page with one line box per word-ish line of `text`."""
    return PageRecord(
        doc_id=doc_id,
        page_no=page_no,
        source=f"/docs/{doc_id}.pdf",
        mode="base",
        n_tokens=273,
        text=text,
        text_source=text_source,
        width=612.0,
        height=792.0,
        dpi=144.0,
        lines=[TextLine(0, min(len(text), 10), (72.0, 72.0, 300.5, 84.25))],
        text_vec=unit(page_no % TEXT_DIM) if text_vec is None else text_vec,
        vision_vec=vision_vec,
    )


def make_doc(doc_id: str, pages: int = 1, status: DocStatus = "indexing", size: int = 1000) -> DocRecord:
    """A manifest record for `make_page` pages."""
    return DocRecord(
        doc_id=doc_id, source=f"/docs/{doc_id}.pdf", pages=pages, status=status, bytes=size, mode="base"
    )


def add_doc(store: IndexStore, doc_id: str, pages: list[PageRecord], *, complete: bool = True) -> None:
    """begin_doc → write_pages → complete_doc, the way the indexer does it."""
    store.begin_doc(make_doc(doc_id, pages=len(pages)))
    store.write_pages(pages)
    if complete:
        store.complete_doc(doc_id)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """Wait until 127.0.0.1:`port` accepts connections; False if `proc` exits or time runs out."""
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


@contextmanager
def lite_server(data_dir: Path) -> Iterator[str]:
    """`python -m retriever.lite_server` over `data_dir` on a free loopback port; yields its URI."""
    port = free_port()
    cmd = [sys.executable, "-m", "retriever.lite_server", "--data-dir", str(data_dir), "--port", str(port)]
    server = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not wait_for_port(port, server, seconds=60):
            err = server.stderr.read().decode(errors="replace")[-800:] if server.poll() is not None else ""
            raise RuntimeError(f"the Lite server did not start on port {port}: {err or 'timeout'}")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def stop(proc: subprocess.Popen, seconds: float = 20) -> None:
    """SIGTERM `proc`, and SIGKILL it if it is still there after `seconds`."""
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

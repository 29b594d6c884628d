"""SIGKILL the build at several moments; rerunning the same command must end with exactly the right pages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retriever.store import IndexStore
from tests.conftest import cli_json, make_pdf

REPO = Path(__file__).resolve().parents[3]


def start_build(corpus: Path, data: Path, extra: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    # A new session so the kill takes the whole process group, as a crash or OOM kill of the job would.
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli",
            "index",
            "build",
            str(corpus),
            "--data-dir",
            str(data),
            "--json",
            "--workers",
            "2",
            "--batch-pages",
            "2",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        start_new_session=True,
    )


def kill_after_events(proc: subprocess.Popen[str], n_events: int) -> int:
    """Read JSON events until n_events have arrived, then SIGKILL the job. Returns events seen."""
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip():
            seen += 1
        if seen >= n_events:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return seen


@pytest.fixture
def many_docs(tmp_path: Path) -> tuple[Path, int]:
    root = tmp_path / "many"
    root.mkdir()
    pages = 0
    for d in range(8):
        n = 3 + d % 4
        make_pdf(
            root / f"doc{d}.pdf",
            [
                f"Document {d} page {p}: ledger of ship arrivals number {d * 100 + p}."
                for p in range(1, n + 1)
            ],
        )
        pages += n
    return root, pages


@pytest.mark.parametrize("profile", ["lite", "vision"])
def test_sigkill_at_any_moment_then_resume(
    many_docs: tuple[Path, int], tmp_path: Path, tiny_weights: Path, profile: str
) -> None:
    corpus, total_pages = many_docs
    data = tmp_path / "index"
    extra = ("--encoder", "deepseek-ocr", "--weights", str(tiny_weights), "--device", "cpu") * (
        profile == "vision"
    )
    # Kill early (planning / first pages), in the middle, and late (between documents being completed).
    for n_events in (1, 4, 9):
        kill_after_events(start_build(corpus, data, extra), n_events)
        time.sleep(0.5)
    final = start_build(corpus, data, extra)
    out, err = final.communicate(timeout=600)
    assert final.returncode == 0, err
    done = json.loads(out.strip().splitlines()[-1])
    assert done["event"] == "done"

    status = cli_json("index", "status", "--data-dir", str(data))
    assert (status["documents"], status["pages"], status["incomplete_documents"]) == (8, total_pages, 0)
    store = IndexStore.open(str(data / "milvus.db"))
    try:
        audit = store.audit()
    finally:
        store.close()
    assert audit["page_rows"] == audit["distinct_pages"] == total_pages
    assert audit["orphan_pages"] == 0 and audit["orphan_token_rows"] == 0
    if profile == "vision":
        assert audit["token_rows"] >= total_pages and status["bytes"]["tokens"] > 0

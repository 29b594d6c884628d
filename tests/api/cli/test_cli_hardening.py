"""The CLI against hostile inputs and a broken machine (issue 11, defects 4, 5 and 8): FIFOs are errors, not
hangs; invalid text is one error line; odd file names are named for what they are; a locked data dir or a
full disk is one `error:` line with no library traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from retriever.store import IndexStore
from tests.conftest import cli_json, make_pdf, run_cli

HANG = 120  # seconds after which a command counts as hung


def errors_of(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]


def no_hang(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return run_cli(*args, timeout=HANG)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vtrag {' '.join(args)} hung for {HANG} s")


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hardening")
    (root / "docs").mkdir()
    make_pdf(root / "docs" / "light.pdf", ["The harbour lighthouse was built in 1871."])
    data = root / "index"
    run_cli("index", "build", str(root / "docs"), "--data-dir", str(data), check=True)
    return data


def test_a_fifo_is_a_per_file_error_not_a_hang(tmp_path: Path) -> None:
    """Defect 4: a FIFO named *.pdf, given directly or found in a folder, is an error line; the rest is
    indexed."""
    root = tmp_path / "docs"
    root.mkdir()
    make_pdf(root / "good.pdf", ["Tide tables for the harbour pilots."])
    os.mkfifo(root / "pipe.pdf")
    data = tmp_path / "index"
    for target in (root, root / "pipe.pdf"):
        proc = no_hang("index", "build", str(target), "--data-dir", str(data))
        errors = [line for line in errors_of(proc) if line.startswith("error")]
        assert proc.returncode == 1, proc.stderr
        assert len(errors) == 1 and "pipe.pdf" in errors[0] and "regular file" in errors[0], proc.stderr
        assert "Traceback" not in proc.stderr
    assert cli_json("index", "status", "--data-dir", str(data))["documents"] == 1


@pytest.mark.parametrize("command", ["search", "ask"])
def test_invalid_utf8_text_is_one_error_line(small_index: Path, command: str) -> None:
    """Defect 5: bytes that are not UTF-8 reach Python as lone surrogates; like REST, they are refused."""
    text = os.fsdecode(b"light\xff\xfehouse")
    proc = run_cli(command, text, "--data-dir", str(small_index))
    assert proc.returncode == 2, proc.stderr
    lines = errors_of(proc)
    assert len(lines) == 1 and lines[0].startswith("error:") and "control characters" in lines[0], proc.stderr
    blank = run_cli(command, "   ", "--data-dir", str(small_index))
    assert blank.returncode == 2 and len(errors_of(blank)) == 1, blank.stderr


def test_a_file_name_that_is_not_utf8_is_named_for_what_it_is(tmp_path: Path) -> None:
    """Defect 8: not "corrupt or truncated PDF" but what is wrong: the name."""
    root = tmp_path / "docs"
    root.mkdir()
    good = make_pdf(root / "good.pdf", ["A good page about the harbour."])
    odd = Path(os.fsdecode(os.fsencode(root) + b"/caf\xe9.pdf"))
    shutil.copy(good, odd)
    proc = run_cli("index", "build", str(odd), "--data-dir", str(tmp_path / "index"))
    lines = [line for line in errors_of(proc) if line.startswith("error")]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "not valid UTF-8" in lines[0] and "corrupt" not in lines[0], lines


def test_a_locked_data_dir_is_one_error_line(small_index: Path) -> None:
    """Defect 8: no milvus-lite traceback before the `error:` line."""
    with IndexStore.open(str(small_index / "milvus.db")):
        proc = run_cli("search", "lighthouse", "--data-dir", str(small_index))
    lines = errors_of(proc)
    assert proc.returncode == 3, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and "already open" in lines[0], proc.stderr


def _namespaces() -> bool:
    """Whether this machine lets us mount a private tmpfs (a user + mount namespace)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64k tmpfs /mnt",
        ],
        capture_output=True,
    )
    return probe.returncode == 0


needs_tmpfs = pytest.mark.skipif(
    not _namespaces(), reason="needs unshare (user + mount namespaces) for a tmpfs"
)


@needs_tmpfs
def test_a_full_disk_is_one_error_line(tmp_path: Path) -> None:
    """Defect 8: the index on a 64 KiB tmpfs fills up mid-build: one `error:` line, exit 3, no traceback,
    and nothing half-written becomes visible. (milvus-lite 2.5's core acknowledges the inserts it could not
    store, so it is the store's read-back before `complete` that must catch it.)"""
    pdf = make_pdf(tmp_path / "many.pdf", [f"Ledger page {p} of ship arrivals." for p in range(40)])
    data = tmp_path / "full"
    data.mkdir()
    cli = f"cd {Path(__file__).resolve().parents[3]} && {sys.executable} -m api.cli"
    index = data / "idx"
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {data} || exit 99; "
        f"{cli} index build {pdf} --data-dir {index}; rc=$?; "
        f"{cli} index status --json --data-dir {index} 2>/dev/null; exit $rc"
    )
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=HANG,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    lines = errors_of(proc)
    assert proc.returncode == 3, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and "No space left" in lines[0], proc.stderr
    status = json.loads(proc.stdout.strip().splitlines()[-1])
    assert status["documents"] == 0 and status["pages"] == 0, status  # nothing counts as indexed

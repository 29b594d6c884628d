"""Each bad input: one clear error line naming the file, the batch goes on, exit code 1, index unchanged."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pymupdf
import pytest

from tests.conftest import cli_json, make_pdf, run_cli


def huge_png(path: Path, side: int = 20000) -> Path:
    """A valid PNG header declaring side x side pixels; the (tiny, truncated) data is never decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


def bad_inputs(root: Path) -> dict[str, Path]:
    root.mkdir()
    corrupt = root / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis is not a pdf at all\n")
    truncated = root / "truncated.pdf"
    whole = make_pdf(root / "whole.tmp", ["A page that will be cut in half."]).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    encrypted = root / "encrypted.pdf"
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "secret plans")
    doc.save(encrypted, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="pw", owner_pw="owner")
    empty = root / "empty.pdf"
    empty.write_bytes(b"")
    unsupported = root / "notes.docx"
    unsupported.write_bytes(b"PK\x03\x04 not really a document")
    loop = root / "loop.pdf"
    os.symlink(loop, loop)
    return {
        "corrupt": corrupt,
        "truncated": truncated,
        "encrypted": encrypted,
        "empty": empty,
        "zero_pages": _zero_page_pdf(root / "zero.pdf"),
        "unsupported": unsupported,
        "missing": root / "does-not-exist.pdf",
        "huge": huge_png(root / "huge.png"),
        "loop": loop,
    }


def _zero_page_pdf(path: Path) -> Path:
    # PyMuPDF refuses to save a page-less document, so write the minimal file by hand.
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    )
    xref = len(body)
    body += (
        b"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
        b"trailer<</Size 3/Root 1 0 R>>\nstartxref\n" + str(xref).encode() + b"\n%%EOF\n"
    )
    path.write_bytes(body)
    return path


@pytest.fixture
def indexed(corpus: Path, tmp_path: Path) -> tuple[Path, dict]:
    data = tmp_path / "index"
    run_cli("index", "build", str(corpus), "--data-dir", str(data), check=True)
    return data, cli_json("index", "status", "--data-dir", str(data))


def test_each_bad_input_fails_alone_and_changes_nothing(indexed: tuple[Path, dict], tmp_path: Path) -> None:
    data, before = indexed
    bad = bad_inputs(tmp_path / "bad")
    good = make_pdf(tmp_path / "good.pdf", ["A good page about tide tables and harbour pilots."])
    # Each alone: one error line naming it, exit code 1, the index as it was.
    for name, path in bad.items():
        proc = run_cli("index", "build", str(path), "--data-dir", str(data))
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
        assert proc.returncode == 1, (name, proc.stderr)
        assert len(errors) == 1 and path.name in errors[0], (name, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert cli_json("index", "status", "--data-dir", str(data)) == before, name

    # All together with a good file: the batch goes on and indexes the good one.
    proc = run_cli("index", "build", *map(str, bad.values()), str(good), "--data-dir", str(data))
    assert proc.returncode == 1
    assert sum(line.startswith("error") for line in proc.stderr.splitlines()) == len(bad)
    after = cli_json("index", "status", "--data-dir", str(data))
    assert (after["documents"], after["pages"]) == (before["documents"] + 1, before["pages"] + 1)


def test_bad_file_inside_a_folder_and_a_looping_folder_link(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    make_pdf(root / "sub" / "ok.pdf", ["Tide tables for the harbour."])
    (root / "sub" / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (root / "readme.txt").write_text("not a document")  # skipped quietly inside a folder
    os.symlink(root, root / "sub" / "back-to-top")
    data = tmp_path / "index"
    proc = run_cli("index", "build", str(root), "--data-dir", str(data))
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert proc.returncode == 1
    assert (
        len(errors) == 2
        and any("broken.pdf" in e for e in errors)
        and any("back-to-top" in e for e in errors)
    )
    assert cli_json("index", "status", "--data-dir", str(data))["documents"] == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "locked.pdf", ["locked"])
    path.chmod(0)
    proc = run_cli("index", "build", str(path), "--data-dir", str(tmp_path / "index"))
    assert proc.returncode == 1 and "locked.pdf" in proc.stderr

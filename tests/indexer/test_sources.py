"""Discovery: folders, explicit files, unsupported types, symlink loops, duplicates — without any model."""

from __future__ import annotations

import os
from pathlib import Path

from indexer.sources import discover, file_sha256


def names(cands) -> list[tuple[str, bool, bool]]:
    return [(c.path.name, c.error is not None, c.skipped) for c in cands]


def test_walks_folders_in_order_and_skips_unsupported_quietly(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    for rel in ("a.pdf", "b/c.PNG", "b/d.txt", ".hidden.pdf", "b/e.tiff"):
        (tmp_path / rel).write_bytes(b"x")
    assert names(discover([tmp_path])) == [
        ("a.pdf", False, False),
        ("c.PNG", False, False),
        ("d.txt", False, True),
        ("e.tiff", False, False),
    ]


def test_explicit_unsupported_missing_and_self_loop_are_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.docx").write_bytes(b"x")
    os.symlink(tmp_path / "self.pdf", tmp_path / "self.pdf")
    os.symlink(tmp_path / "gone.pdf", tmp_path / "dangling.pdf")
    cands = list(
        discover(
            [tmp_path / "notes.docx", tmp_path / "nope.pdf", tmp_path / "self.pdf", tmp_path / "dangling.pdf"]
        )
    )
    errors = [c.error for c in cands]
    assert all(errors)
    assert "unsupported file type '.docx'" in errors[0]
    assert "no such file" in errors[1]
    assert "symlink loop" in errors[2]
    assert "broken symlink" in errors[3]


def test_folder_link_to_a_parent_is_reported_once_and_walk_goes_on(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.pdf").write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "sub" / "up")
    cands = list(discover([tmp_path]))
    assert [(c.path.name, bool(c.error)) for c in cands] == [("up", True), ("x.pdf", False)]
    assert "links back" in (cands[0].error or "")


def test_same_file_twice_is_yielded_once(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"x")
    os.symlink(tmp_path / "a.pdf", tmp_path / "alias.pdf")
    assert len(list(discover([tmp_path / "a.pdf", tmp_path, tmp_path / "alias.pdf"]))) == 1


def test_doc_id_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(b"hello")
    assert file_sha256(path) == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    """A FIFO named *.pdf, in a folder or given directly, is an error; hashing it never blocks."""
    import pytest

    (tmp_path / "ok.pdf").write_bytes(b"%PDF-1.4")
    os.mkfifo(tmp_path / "pipe.pdf")
    found = {c.path.name: c.error for c in discover([tmp_path, tmp_path / "pipe.pdf"])}
    assert found["ok.pdf"] is None
    assert "not a regular file" in (found["pipe.pdf"] or "")
    with pytest.raises(OSError, match="not a regular file"):
        file_sha256(tmp_path / "pipe.pdf")

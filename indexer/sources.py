"""Find the documents to index: files and folders, with every bad path reported instead of raised."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from indexer.documents import SUPPORTED_SUFFIXES

HASH_CHUNK = 1 << 20
NOT_REGULAR = "not a regular file (a FIFO, socket or device); only regular files are read"


@dataclass(frozen=True)
class Candidate:
    """A path found by discovery. `error` is set when it cannot be indexed; `skipped` for files a folder
    walk passes over (unsupported types, hidden files), which are not errors."""

    path: Path
    error: str | None = None
    skipped: bool = False


def discover(paths: Iterable[Path]) -> Iterator[Candidate]:
    """Yield every document under `paths` once, in a stable order.

    Args:
        paths: files and folders as the user gave them. Folders are walked recursively, following symlinks,
            with loops detected by (device, inode) of the folders on the current walk.
    Returns:
        an iterator of Candidates; explicit files with an unsupported extension, missing or unreadable paths
        and symlink loops come back with `error` set, so one bad path never stops the batch.
    """
    seen: set[str] = set()
    for raw in paths:
        path = Path(os.path.abspath(raw))
        yield from _visit(path, explicit=True, ancestors=(), seen=seen)


def _visit(
    path: Path, *, explicit: bool, ancestors: tuple[tuple[int, int], ...], seen: set[str]
) -> Iterator[Candidate]:
    try:
        st = path.stat()  # follows symlinks; a loop raises ELOOP
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            yield Candidate(path, "symlink loop (the link points back to itself)")
        elif path.is_symlink():
            yield Candidate(path, "broken symlink (its target does not exist)")
        elif exc.errno == errno.ENOENT:
            yield Candidate(path, "no such file or directory")
        else:
            yield Candidate(path, f"cannot read: {exc.strerror or exc}")
        return

    if path.is_dir():
        key = (st.st_dev, st.st_ino)
        if key in ancestors:
            yield Candidate(path, "symlink loop (this folder links back to one of its parents)")
            return
        try:
            children = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            yield Candidate(path, f"cannot list folder: {exc.strerror or exc}")
            return
        for entry in children:
            if entry.name.startswith("."):
                continue
            yield from _visit(Path(entry.path), explicit=False, ancestors=(*ancestors, key), seen=seen)
        return

    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        if explicit:
            supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
            yield Candidate(
                path, f"unsupported file type {path.suffix or '(none)'!r}; supported: {supported}"
            )
        else:
            yield Candidate(path, skipped=True)
        return
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the first read forever; devices never end
        yield Candidate(path, NOT_REGULAR)
        return
    if not _utf8(str(path)):
        yield Candidate(path, "the file name is not valid UTF-8; rename the file to index it")
        return
    real = os.path.realpath(path)
    if real in seen:  # the same file reached twice (a link, or a folder given twice)
        return
    seen.add(real)
    if not os.access(path, os.R_OK):
        yield Candidate(path, "permission denied")
        return
    yield Candidate(path)


def file_sha256(path: Path) -> str:
    """The document id: sha256 hex of the file bytes, streamed.

    Raises:
        OSError: unreadable, or not a regular file (checked on the open file, so a FIFO put in a file's place
            after discovery cannot block the read).
    """
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO with no writer would block here
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, NOT_REGULAR)
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _utf8(text: str) -> bool:
    """Whether a path decoded from the file system is valid UTF-8 (undecodable bytes arrive as surrogates,
    which no index field or PDF library can take)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def in_shard(path: Path, shard: tuple[int, int]) -> bool:
    """Stable partition by path, so parallel workers over the same tree never take the same file."""
    k, n = shard
    return n == 1 or int(hashlib.sha1(str(path).encode()).hexdigest(), 16) % n == k

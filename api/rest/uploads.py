"""Uploaded documents on disk: `<data_dir>/uploads/<sha256><ext>`, never under the name the client sent.

The client's filename is kept only as metadata (a `<sha256>.json` sidecar) for display. The extension comes
from the file's leading bytes, not from the name. A request's files are all checked (size, type, pages, that
they open) before any of them is moved into place, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from api.rest.errors import DISK_FULL_MESSAGE, is_disk_full
from indexer.documents import open_document
from indexer.errors import SourceError

CHUNK = 1 << 20
STORED_NAME = re.compile(r"^([0-9a-f]{64})(\.(?:pdf|png|jpg|tif|bmp|webp))$")
_MAGIC: list[tuple[bytes, int, str]] = [  # (signature, offset, extension)
    (b"\x89PNG\r\n\x1a\n", 0, ".png"),
    (b"\xff\xd8\xff", 0, ".jpg"),
    (b"II*\x00", 0, ".tif"),
    (b"MM\x00*", 0, ".tif"),
    (b"BM", 0, ".bmp"),
]
# C0/C1 controls, and the bidi controls that make a shown name read otherwise than it is
# ("invoice<RLO>fdp.exe" shows as "invoiceexe.pdf"): embeddings, overrides, isolates, marks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
TOMBSTONE = ".deleting"  # `<sha256>.deleting`: a delete began; start-up finishes it


class UploadError(Exception):
    """A refused upload. `status`: the HTTP status it maps to; `detail`: per-file reasons."""

    def __init__(self, status: int, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class StoredUpload:
    doc_id: str
    path: Path
    filename: str
    bytes: int
    pages: int


def sniff_extension(head: bytes) -> str | None:
    """The stored extension for a file starting with `head`, or None for a type we do not index."""
    if b"%PDF-" in head[:1024]:
        return ".pdf"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    for signature, offset, ext in _MAGIC:
        if head[offset : offset + len(signature)] == signature:
            return ext
    return None


def display_filename(name: str | None) -> str:
    """The client's filename reduced to something safe to show: last path component, no control characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _CONTROL.sub("", base).strip().encode("utf-8", "replace").decode("utf-8", "replace")
    base = "".join(ch for ch in base if not 0xD800 <= ord(ch) <= 0xDFFF)
    return base[:255] or "upload"


class UploadStore:
    """Content-addressed storage of uploaded files plus their display names.

    Args:
        root: the uploads directory (created on first use).
        max_bytes: largest file accepted.
        max_pages: most pages a document may have.
    """

    def __init__(self, root: Path, *, max_bytes: int, max_pages: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_pages = max_pages
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def incoming(self) -> Path:
        return self.root / ".incoming"

    # -- writing --

    def save_all(self, files: Iterable[tuple[str | None, BinaryIO]]) -> list[StoredUpload]:
        """Check every file, then store them all; refuse the whole request if any one is bad.

        Args:
            files: (client filename, readable binary stream) pairs.
        Returns:
            One StoredUpload per file, in order.
        Raises:
            UploadError: 413 (a file over max_bytes or max_pages), 415 (not a supported type), 422 (empty,
            corrupt, encrypted, ...). Nothing is stored then.
        """
        staged: list[tuple[Path, StoredUpload]] = []
        try:
            self.incoming.mkdir(parents=True, exist_ok=True)
            for index, (name, stream) in enumerate(files):
                staged.append(self._stage(index, display_filename(name), stream))
            for temp, upload in staged:
                if upload.path.exists():
                    temp.unlink(missing_ok=True)
                else:
                    os.replace(temp, upload.path)
                self._write_sidecar(upload)
        except OSError as exc:
            if is_disk_full(exc):
                raise UploadError(507, DISK_FULL_MESSAGE) from None
            raise
        finally:
            for temp, _ in staged:
                temp.unlink(missing_ok=True)
        return [upload for _, upload in staged]

    def _stage(self, index: int, filename: str, stream: BinaryIO) -> tuple[Path, StoredUpload]:
        where = {"index": index, "filename": filename}
        temp = self.incoming / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        head = b""
        try:
            with temp.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadError(
                            413,
                            f"{filename}: file is larger than the {self.max_bytes}-byte limit",
                            {**where, "limit_bytes": self.max_bytes},
                        )
                    if len(head) < 1024:
                        head += chunk[: 1024 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise UploadError(422, f"{filename}: file is empty", where)
            ext = sniff_extension(head)
            if ext is None:
                raise UploadError(415, f"{filename}: not a PDF, PNG, JPEG, TIFF, BMP or WebP file", where)
            typed = temp.with_suffix(ext)  # the reader is picked by suffix
            os.replace(temp, typed)
            temp = typed
            pages = self._count_pages(temp, filename, where)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        doc_id = digest.hexdigest()
        return temp, StoredUpload(doc_id, self.root / f"{doc_id}{ext}", filename, size, pages)

    def _count_pages(self, path: Path, filename: str, where: dict[str, object]) -> int:
        try:
            with open_document(path) as doc:
                pages = doc.n_pages
        except SourceError as exc:
            # The message names our temporary path; the client knows the file by its own name.
            raise UploadError(422, f"{filename}: {exc.message}", where) from None
        if pages > self.max_pages:
            raise UploadError(
                413,
                f"{filename}: {pages} pages, over the limit of {self.max_pages} pages per document",
                {**where, "pages": pages, "limit_pages": self.max_pages},
            )
        return pages

    def _write_sidecar(self, upload: StoredUpload) -> None:
        meta = {"filename": upload.filename, "bytes": upload.bytes, "pages": upload.pages}
        meta["uploaded_at"] = time.time()
        target = self.root / f"{upload.doc_id}.json"
        temp = self.incoming / f"{uuid.uuid4().hex}.json"
        temp.write_text(json.dumps(meta))
        os.replace(temp, target)
        with self._lock:
            self._names[upload.doc_id] = upload.filename

    # -- reading --

    def owns(self, source: str | Path) -> str | None:
        """The doc id when `source` is a file of this store, else None."""
        path = Path(source)
        match = STORED_NAME.match(path.name)
        if match is None or path.parent.resolve() != self.root.resolve():
            return None
        return match.group(1)

    def filename(self, doc_id: str) -> str | None:
        """The name a document was (last) uploaded under, or None if it was not uploaded."""
        with self._lock:
            if doc_id in self._names:
                return self._names[doc_id]
        try:
            name = str(json.loads((self.root / f"{doc_id}.json").read_text())["filename"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        with self._lock:
            self._names[doc_id] = name
        return name

    def display(self, source: str) -> str:
        """What to show for a page's source: the uploaded filename, else the path a CLI build indexed."""
        doc_id = self.owns(source)
        if doc_id is None:
            return source
        return self.filename(doc_id) or Path(source).name

    def stored(self) -> list[Path]:
        """Every stored upload file (for resuming uploads that were never indexed)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if STORED_NAME.match(p.name))

    def has(self, doc_id: str) -> bool:
        """Whether a file of this document is stored."""
        return any(STORED_NAME.match(p.name) for p in self.root.glob(f"{doc_id}.*"))

    # -- deleting: a tombstone first, so a delete cut by a crash is finished at start-up, never undone --

    def mark_deleting(self, doc_id: str) -> None:
        """Record, durably, that `doc_id` is being deleted (before anything of it is removed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tombstone = self.root / f"{doc_id}{TOMBSTONE}"
        with tombstone.open("wb") as f:
            os.fsync(f.fileno())
        _fsync_dir(self.root)

    def deleting(self) -> list[str]:
        """Doc ids whose delete began and did not finish."""
        if not self.root.is_dir():
            return []
        return sorted(p.name[: -len(TOMBSTONE)] for p in self.root.glob(f"*{TOMBSTONE}"))

    def remove(self, doc_id: str) -> None:
        """Delete a document's stored file and sidecar, then its tombstone (the last trace of a delete)."""
        for path in self.root.glob(f"{doc_id}.*"):
            if STORED_NAME.match(path.name) or path.name == f"{doc_id}.json":
                path.unlink(missing_ok=True)
        with self._lock:
            self._names.pop(doc_id, None)
        (self.root / f"{doc_id}{TOMBSTONE}").unlink(missing_ok=True)

    def clean_incoming(self) -> int:
        """Remove what uploads cut short by a crash left half-written; returns how many files."""
        if not self.incoming.is_dir():
            return 0
        removed = 0
        for path in self.incoming.iterdir():
            if path.is_file() or path.is_symlink():  # only files are ever written there
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

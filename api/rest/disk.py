"""Free disk space under the data dir, as /readyz reports it.

The server is not ready while less than `min_free_bytes` is free, nor after a write failed for want of space
(ENOSPC) until `min_free_bytes` more is free than there was just after that failure: a full disk is reported
until someone frees space, not only in the moment the temporary file of the failed upload still held it.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path


class DiskWatch:
    """Args: paths: folders whose file systems the server writes to (made or not yet);
    min_free: bytes that must stay free."""

    def __init__(self, paths: Sequence[Path], min_free: int) -> None:
        self.paths = list(paths)
        self.min_free = min_free
        self._lock = threading.Lock()
        self._failed: tuple[float, int] | None = None  # (when, bytes free just after) of the last ENOSPC

    def free(self) -> int:
        """Bytes free on the fullest of the watched file systems.

        A folder not made yet (a server whose index is on a Milvus server creates its data dir only when it
        first writes there) is measured at its nearest existing parent: the file system it will be on.
        """
        return min(shutil.disk_usage(_nearest_existing(p)).free for p in self.paths) if self.paths else 0

    def full(self) -> None:
        """Remember that a write just failed with ENOSPC."""
        with self._lock:
            self._failed = (time.time(), self.free())

    def check(self) -> str:
        """ "ok", or why the disk is a problem (for /readyz)."""
        free = self.free()
        with self._lock:
            failed = self._failed
            if failed is not None and free >= failed[1] + self.min_free:
                self._failed = failed = None  # space was freed since
        if failed is not None:
            ago = time.time() - failed[0]
            return f"no space left: a write failed {ago:.0f} s ago; {free} bytes free"
        if free < self.min_free:
            return f"low on space: {free} bytes free, under the {self.min_free}-byte minimum"
        return "ok"


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not os.path.isdir(path) and path != path.parent:
        path = path.parent
    return path

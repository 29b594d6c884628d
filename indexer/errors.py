"""Errors the indexer raises about its inputs."""

from __future__ import annotations

import os
from pathlib import Path


class SourceError(Exception):
    """A source document cannot be read: corrupt, encrypted, empty, too large, unsupported or unreadable.

    `str()` is one line that names the file, e.g.
    "report.pdf: PDF is encrypted (password-protected); decrypt it first",
    so a job can log it and store it in the manifest as is.
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        # Both go to Exception.__init__ so the error pickles across worker processes.
        super().__init__(str(path), " ".join(str(message).split()))
        self.path = Path(path)
        self.message = self.args[1]

    def __str__(self) -> str:
        return f"{self.args[0]}: {self.message}"

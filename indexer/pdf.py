"""PyMuPDF, imported without its layout-analysis add-on.

PyMuPDF 2.0 imports `pymupdf.layout` (pymupdf4llm's ONNX layout models) whenever it is installed — and its
own package metadata installs it — which costs ~0.9 s of the ~1.5 s import in every process: each CLI call
and each extraction worker. vtrag reads text, words and pixmaps only, none of which uses that add-on, so
the import is declined (a None entry in sys.modules makes `import pymupdf.layout` raise ImportError, which
PyMuPDF catches). Import PyMuPDF through this module: `from indexer.pdf import pymupdf`.
"""

from __future__ import annotations

import sys

if "pymupdf" not in sys.modules:  # too late once PyMuPDF is in: leave it as it is
    sys.modules.setdefault("pymupdf.layout", None)  # type: ignore[arg-type]

import pymupdf  # noqa: E402

__all__ = ["pymupdf"]

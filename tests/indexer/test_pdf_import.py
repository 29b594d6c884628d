"""PyMuPDF is imported without its layout add-on in vtrag's own processes (CLI, extraction workers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import make_pdf

ROOT = Path(__file__).resolve().parents[2]


def test_extraction_imports_pymupdf_without_layout_and_still_reads_pages(tmp_path: Path) -> None:
    code = (
        "import sys; from indexer.extract import extract_pages; "
        "pages = extract_pages(sys.argv[1], [1], False, False); "
        "print(sys.modules.get('pymupdf.layout') is None, pages[0].text_source, 'harbour' in pages[0].text)"
    )
    pdf = make_pdf(tmp_path / "a.pdf", ["The harbour light was lit at dusk."])
    out = subprocess.run(
        [sys.executable, "-c", code, str(pdf)], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    assert out == ["True", "pdf", "True"]

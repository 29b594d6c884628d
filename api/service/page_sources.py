"""Re-reading indexed pages from their stored source files (page images, full-OCR fallback).

A source is only used while its bytes still hash to the document's id: a file edited or replaced after
indexing is reported unavailable instead of silently rendering a different page. The check is remembered
per (path, size, mtime), so a file is hashed once, not on every request.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from encoder.modes import get_mode
from indexer.documents import SourcePage, open_document
from indexer.errors import SourceError
from indexer.sources import file_sha256


class SourceUnavailableError(Exception):
    """The stored source of a page is gone, changed since indexing, or cannot be read."""


class PageSources:
    def __init__(self) -> None:
        self._verified: dict[str, tuple[str, int, int]] = {}
        self._lock = threading.Lock()

    def _verify(self, doc_id: str, path: Path) -> None:
        try:
            st = path.stat()
        except OSError:
            raise SourceUnavailableError("the document's source file is no longer available") from None
        stamp = (doc_id, st.st_size, st.st_mtime_ns)
        with self._lock:
            if self._verified.get(str(path)) == stamp:
                return
        try:
            digest = file_sha256(path)
        except OSError:
            raise SourceUnavailableError("the document's source file cannot be read") from None
        if digest != doc_id:
            raise SourceUnavailableError("the document's source file changed after it was indexed")
        with self._lock:
            self._verified[str(path)] = stamp

    @contextmanager
    def open_page(self, doc_id: str, source: str, page_no: int) -> Iterator[SourcePage]:
        """The page, from the file the document was indexed from (valid inside the `with`)."""
        path = Path(source)
        self._verify(doc_id, path)
        try:
            with open_document(path) as doc:
                if not 1 <= page_no <= doc.n_pages:
                    raise SourceUnavailableError(f"the source has no page {page_no}")
                yield doc.page(page_no)
        except SourceError as exc:
            raise SourceUnavailableError(f"the source cannot be read: {exc.message}") from None

    def render_png(self, doc_id: str, source: str, page_no: int, mode: str | None = None) -> bytes:
        """The page as PNG: at its index resolution, or with its longest side at `mode`'s view size.

        Raises:
            SourceUnavailableError: see the class.
        """
        with self.open_page(doc_id, source, page_no) as page:
            side = get_mode(mode).size if mode is not None else None
            # Renderers take whole dpi: render just above the target, then scale down to it exactly.
            dpi = math.ceil(side * 72.0 / max(page.width_pt, page.height_pt)) if side else None
            try:
                image = page.render(dpi)
            except SourceError as exc:
                raise SourceUnavailableError(f"the page cannot be rendered: {exc.message}") from None
        if side and max(image.size) != side:
            scale = side / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=3)  # fast; pages compress well anyway
        return buffer.getvalue()

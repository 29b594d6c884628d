"""Open source documents (PDF, images) as pages that can be rendered and read.

Coordinates follow docs/ARCHITECTURE.md: page geometry in PDF points; a PDF page rasters at 144 dpi (the
official DeepSeek-OCR PDF rendering), an image counts 1 px = 1 pt (72 dpi), so `pixels = points * dpi / 72`.

Every bad input is refused at `open_document` with a one-line `SourceError` naming the file, before any page
work starts: a job marks the document failed and moves on. A PDF that MuPDF had to repair (a truncated
download) opens, and each page is checked as it is read: a page whose content was lost is a `SourceError`
naming it, never a page that silently reads as empty. Images are checked from their headers first, so a
20000 x 20000 px image fails without being decoded, then decoded once to catch truncated data.
"""

from __future__ import annotations

import math
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from indexer.errors import SourceError
from indexer.pdf import pymupdf
from indexer.pdf_damage import TAIL_BYTES, page_damage

PDF_DPI = 144  # the official DeepSeek-OCR PDF rendering
IMAGE_DPI = 72  # images: 1 px = 1 pt
MAX_PAGE_PIXELS = 100_000_000  # per page raster: guards memory and OCR time against huge pages, image bombs

PDF_SUFFIXES = frozenset({".pdf"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
SUPPORTED_SUFFIXES = PDF_SUFFIXES | IMAGE_SUFFIXES
# What Pillow may identify behind those suffixes (MPO: multi-picture JPEG from cameras; DIB: BMP variant).
_IMAGE_FORMATS = frozenset({"PNG", "JPEG", "MPO", "TIFF", "BMP", "DIB", "WEBP"})
_WHITE = (255, 255, 255)


DocumentKind = Literal["pdf", "image"]


@dataclass(frozen=True, eq=False)
class SourcePage:
    """One page of a source document.

    `width_pt`/`height_pt` are the page size as displayed (PDF rotation applied); `dpi` is the default raster
    resolution. `pdf_page` is the PyMuPDF page for PDFs (valid while its Document is open), None for images.
    """

    page_no: int  # 1-based
    width_pt: float
    height_pt: float
    dpi: float
    pdf_page: pymupdf.Page | None = field(default=None, repr=False)
    _render: Callable[[float], Image.Image] | None = field(default=None, repr=False)

    def size_px(self, dpi: float | None = None) -> tuple[int, int]:
        """Raster size (width, height) in pixels at `dpi` (default: the page's own dpi)."""
        scale = (dpi or self.dpi) / 72
        return max(1, round(self.width_pt * scale)), max(1, round(self.height_pt * scale))

    def render(self, dpi: float | None = None) -> Image.Image:
        """The page as an RGB image at `dpi` (default: the page's dpi; an image page at 72 dpi is its native
        pixels). Raises SourceError if the raster would exceed MAX_PAGE_PIXELS or cannot be decoded."""
        if self._render is None:
            raise ValueError("this SourcePage has no renderer")
        return self._render(dpi or self.dpi)


class Document:
    """An open source document. Use as a context manager, or call close()."""

    path: Path
    kind: DocumentKind
    n_pages: int

    def pages(self) -> Iterator[SourcePage]:
        """All pages in order."""
        for page_no in range(1, self.n_pages + 1):
            yield self.page(page_no)

    def page(self, page_no: int) -> SourcePage:
        """One page by its 1-based number."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Document:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_page_no(self, page_no: int) -> None:
        if not 1 <= page_no <= self.n_pages:
            raise IndexError(f"page {page_no} out of range 1..{self.n_pages}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, kind={self.kind!r}, n_pages={self.n_pages})"


def open_document(path: str | os.PathLike[str]) -> Document:
    """Open a PDF or an image (PNG, JPEG, TIFF incl. multi-page, BMP, WebP) for reading.

    Args:
        path: the file; the suffix picks the reader.
    Returns:
        an open Document (close it, or use `with`).
    Raises:
        SourceError: unsupported type, unreadable path, empty file, corrupt/truncated data, encrypted PDF,
            PDF without pages, or a page over MAX_PAGE_PIXELS.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES))
        kind = suffix or "(no extension)"
        raise SourceError(path, f"unsupported file type {kind!r}; supported: {supported}")
    _check_readable(path)
    if suffix in PDF_SUFFIXES:
        return _PdfDocument(path)
    return _ImageDocument(path)


def _check_readable(path: Path) -> None:
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise SourceError(path, "is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(path, "is not a regular file")
        if st.st_size == 0:
            raise SourceError(path, "file is empty (0 bytes)")
        with path.open("rb") as f:
            f.read(1)
    except FileNotFoundError:
        raise SourceError(path, "no such file") from None
    except PermissionError:
        raise SourceError(path, "permission denied; cannot read the file") from None
    except OSError as e:
        raise SourceError(path, f"cannot read the file ({e.strerror or e})") from None


def _limit() -> str:
    return f"{MAX_PAGE_PIXELS / 1e6:.0f}-megapixel"


def _check_pixels(path: Path, page_no: int, width_px: int, height_px: int, what: str) -> None:
    if width_px * height_px > MAX_PAGE_PIXELS:
        raise SourceError(
            path,
            f"page {page_no} {what} {width_px} x {height_px} px "
            f"({width_px * height_px / 1e6:.0f} megapixels), over the {_limit()} limit per page",
        )


# ---------------------------------------------------------------------------------------------------- PDF


class _PdfDocument(Document):
    kind: DocumentKind = "pdf"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file_tail: bytes | None = None
        # MuPDF prints repair warnings to stderr; our errors say what matters.
        pymupdf.TOOLS.mupdf_display_errors(False)
        pymupdf.TOOLS.mupdf_display_warnings(False)
        try:
            # filetype pins the PDF reader: MuPDF would otherwise open an image renamed to .pdf as an image.
            self._doc = pymupdf.open(str(path), filetype="pdf")
        except pymupdf.EmptyFileError:
            raise SourceError(path, "file is empty (0 bytes)") from None
        except pymupdf.FileDataError:
            with path.open("rb") as f:
                head = f.read(1024)
            hint = "corrupt or truncated PDF" if b"%PDF" in head else "not a PDF file (no %PDF header)"
            raise SourceError(path, f"cannot open: {hint}") from None
        except (RuntimeError, ValueError, OSError) as e:
            raise SourceError(path, f"cannot open PDF ({e})") from None
        try:
            if not self._doc.is_pdf:
                raise SourceError(path, "cannot open: not a PDF file")
            if self._doc.needs_pass:
                raise SourceError(path, "PDF is encrypted (password-protected); decrypt it first")
            self.n_pages = self._doc.page_count
            if self.n_pages == 0:
                raise SourceError(path, "PDF has no pages")
            for i in range(self.n_pages):
                self._check_page_box(i)
        except SourceError:
            self._doc.close()
            raise

    def _tail(self) -> bytes:
        if self._file_tail is None:
            with self.path.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
                self._file_tail = f.read()
        return self._file_tail

    def _load(self, index: int) -> pymupdf.Page:
        """Page `index` (0-based) as displayed and rendered: its `rect` has the rotation and /UserUnit
        applied, so the size check and the renderer see the same geometry."""
        try:
            return self._doc.load_page(index)
        except (RuntimeError, ValueError) as e:
            raise SourceError(self.path, f"page {index + 1} cannot be read ({e})") from None

    def _check_page_box(self, index: int) -> None:
        rect = self._load(index).rect
        if rect.is_empty or rect.is_infinite:
            raise SourceError(self.path, f"page {index + 1} has an empty or invalid page box")
        scale = PDF_DPI / 72
        _check_pixels(
            self.path,
            index + 1,
            math.ceil(rect.width * scale),
            math.ceil(rect.height * scale),
            f"renders at {PDF_DPI} dpi to",
        )

    def page(self, page_no: int) -> SourcePage:
        self._check_page_no(page_no)
        pdf_page = self._load(page_no - 1)
        rect = pdf_page.rect
        if self._doc.is_repaired:  # only a damaged file needs repair: look for what the repair could not save
            damage = page_damage(self._doc, pdf_page, self._tail())
            if damage:
                raise SourceError(
                    self.path, f"page {page_no} is damaged ({damage}); the file looks truncated or corrupt"
                )

        def render(dpi: float) -> Image.Image:
            w, h = math.ceil(rect.width * dpi / 72), math.ceil(rect.height * dpi / 72)
            _check_pixels(self.path, page_no, w, h, f"renders at {dpi:g} dpi to")
            try:
                pix = pdf_page.get_pixmap(dpi=dpi, colorspace=pymupdf.csRGB, alpha=False)
            except (RuntimeError, ValueError) as e:
                raise SourceError(self.path, f"page {page_no} cannot be rendered ({e})") from None
            return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)

        return SourcePage(page_no, rect.width, rect.height, PDF_DPI, pdf_page, render)

    def close(self) -> None:
        if not self._doc.is_closed:
            self._doc.close()


# ---------------------------------------------------------------------------------------------------- images


class _ImageDocument(Document):
    kind: DocumentKind = "image"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with warnings.catch_warnings():
                # Pillow's own bomb guard warns above ~89 MP and refuses above ~179 MP; ours decides.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                self._im = Image.open(path)
        except Image.DecompressionBombError as e:
            found = re.search(r"\((\d+) pixels\)", str(e))
            size = f" ({int(found.group(1)) / 1e6:.0f} megapixels)" if found else ""
            raise SourceError(path, f"image is too large{size}, over the {_limit()} limit per page") from None
        except UnidentifiedImageError:
            raise SourceError(path, "cannot open: corrupt image or not an image file") from None
        except (OSError, ValueError, SyntaxError) as e:
            raise SourceError(path, f"cannot open image ({e})") from None
        try:
            if self._im.format not in _IMAGE_FORMATS:
                raise SourceError(
                    path, f"is a {self._im.format} image; supported: PNG, JPEG, TIFF, BMP, WebP"
                )
            # Only TIFF pages are document pages; animated WebP etc. give their first frame.
            self.n_pages = getattr(self._im, "n_frames", 1) if self._im.format == "TIFF" else 1
            for i in range(self.n_pages):  # headers only: nothing is decoded yet
                self._seek(i)
                _check_pixels(path, i + 1, *self._im.size, "is")
            # Decode each page once now to catch truncated or corrupt data; sizes are taken as rendered
            # (EXIF orientation applied). A single page stays decoded for render().
            self._sizes: list[tuple[int, int]] = []
            self._single: Image.Image | None = None
            for i in range(self.n_pages):
                frame = self._frame(i)
                self._sizes.append(frame.size)
                if self.n_pages == 1:
                    self._single = frame
        except SourceError:
            self._im.close()
            raise

    def _seek(self, index: int) -> None:
        try:
            self._im.seek(index)
        except (EOFError, OSError, ValueError) as e:
            raise SourceError(self.path, f"page {index + 1} cannot be read ({e})") from None

    def _frame(self, index: int) -> Image.Image:
        """Decode page `index` as upright RGB."""
        self._seek(index)
        try:
            self._im.load()
        except (OSError, ValueError, SyntaxError) as e:
            where = self._where(index)
            raise SourceError(self.path, f"{where}image data is truncated or corrupt ({e})") from None
        try:
            frame = ImageOps.exif_transpose(self._im)  # a copy, turned upright
        except Exception:  # a broken EXIF block must not sink an otherwise good image
            frame = self._im.copy()
        try:
            return _to_rgb(frame)
        except (OSError, ValueError, SyntaxError) as e:
            raise SourceError(self.path, f"{self._where(index)}image data is corrupt ({e})") from None

    def _where(self, index: int) -> str:
        return f"page {index + 1}: " if self.n_pages > 1 else ""

    def page(self, page_no: int) -> SourcePage:
        self._check_page_no(page_no)
        width, height = self._sizes[page_no - 1]

        def render(dpi: float) -> Image.Image:
            image = self._single.copy() if self._single is not None else self._frame(page_no - 1)
            if dpi == IMAGE_DPI:
                return image
            w, h = max(1, round(width * dpi / 72)), max(1, round(height * dpi / 72))
            _check_pixels(self.path, page_no, w, h, f"at {dpi:g} dpi is")
            return image.resize((w, h), Image.Resampling.BICUBIC)

        return SourcePage(page_no, float(width), float(height), IMAGE_DPI, None, render)

    def close(self) -> None:
        self._single = None
        self._im.close()


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for any Pillow mode: transparency flattened onto white, 16/32-bit greys scaled to 8 bits."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(image, dtype=np.float32)
        top = float(a.max()) if a.size else 0.0
        if top > 255:
            a = a * (255.0 / (65535.0 if top <= 65535 else top))
        image = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image

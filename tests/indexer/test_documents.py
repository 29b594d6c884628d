"""open_document: every bad input is one clear SourceError line naming the file; good inputs give pages."""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from PIL import Image, ImageFile

from indexer import documents
from indexer.documents import IMAGE_DPI, MAX_PAGE_PIXELS, PDF_DPI, open_document
from indexer.errors import SourceError

# ------------------------------------------------------------------------------------------ file makers


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height, with a token of pixel data: only the header is real."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def _pdf(path: Path, n_pages: int = 1, width: float = 595, height: float = 842, **save: object) -> Path:
    doc = pymupdf.open()
    for i in range(n_pages):
        doc.new_page(width=width, height=height).insert_text((72, 72), f"Page {i + 1}", fontname="helv")
    doc.save(path, **save)
    return path


def _truncated(path: Path, fmt: str) -> Path:
    full = path.with_name("full-" + path.name)
    Image.effect_noise((320, 240), 60).convert("RGB").save(full, format=fmt)
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _zero_page_pdf(path: Path) -> Path:
    path.write_bytes(
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    return path


def _bytes(data: bytes) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return make


def _image(fmt: str) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        Image.new("RGB", (8, 8)).save(path, format=fmt)
        return path

    return make


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


AES = pymupdf.PDF_ENCRYPT_AES_256  # type: ignore[attr-defined]

BAD_INPUTS: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    # case: (file name, maker, words the message must contain)
    "corrupt pdf": ("report.pdf", _bytes(b"%PDF-1.4\n garbage \x00\x01"), "corrupt"),
    "random bytes pdf": ("noise.pdf", _bytes(bytes(range(256)) * 16), "not a PDF"),
    "image named pdf": ("photo.pdf", _image("PNG"), "not a PDF"),
    "encrypted pdf": ("secret.pdf", lambda p: _pdf(p, encryption=AES, user_pw="u", owner_pw="o"), "encrypt"),
    "empty pdf": ("empty.pdf", _bytes(b""), "empty"),
    "empty png": ("empty.png", _bytes(b""), "empty"),
    "zero-page pdf": ("nopages.pdf", _zero_page_pdf, "no pages"),
    "unsupported extension": ("notes.txt", _bytes(b"hello"), "unsupported"),
    "no extension": ("README", _bytes(b"hello"), "unsupported"),
    "directory": ("folder.pdf", _directory, "directory"),
    "missing file": ("gone.pdf", lambda p: p, "no such file"),
    "huge image": ("poster.png", lambda p: _png_header_only(p, 20000, 20000), "megapixel"),
    "image just over limit": ("wide.png", lambda p: _png_header_only(p, 11000, 10000), "megapixel"),
    "huge pdf page": ("banner.pdf", lambda p: _pdf(p, width=6000, height=6000), "megapixel"),
    "truncated png": ("cut.png", lambda p: _truncated(p, "PNG"), "truncated"),
    "truncated jpeg": ("cut.jpg", lambda p: _truncated(p, "JPEG"), "truncated"),
    "not an image": ("fake.jpg", _bytes(b"not really a jpeg"), "not an image"),
    "gif named png": ("anim.png", _image("GIF"), "GIF"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_clear_line(case: str, tmp_path: Path) -> None:
    name, make, words = BAD_INPUTS[case]
    path = make(tmp_path / name)
    with pytest.raises(SourceError) as info:
        open_document(path)
    line = str(info.value)
    assert name in line
    assert "\n" not in line
    assert words.lower() in line.lower()
    assert info.value.path == path
    assert line == f"{path}: {info.value.message}"


def test_encrypted_message_says_what_to_do(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "report.pdf", encryption=AES, user_pw="u", owner_pw="o")
    expected = r"report\.pdf: PDF is encrypted \(password-protected\); decrypt it first"
    with pytest.raises(SourceError, match=expected):
        open_document(path)


def test_owner_password_only_pdf_opens(tmp_path: Path) -> None:
    # Permissions-only encryption needs no password to read: not an error.
    path = _pdf(tmp_path / "locked.pdf", encryption=AES, owner_pw="owner", user_pw="")
    with open_document(path) as doc:
        assert doc.n_pages == 1


def test_huge_image_fails_from_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _png_header_only(tmp_path / "poster.png", 20000, 20000)

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(SourceError, match="poster.png: .*400 megapixels.*100-megapixel limit"):
        open_document(path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _pdf(tmp_path / "private.pdf")
    if os.geteuid() != 0:  # root reads anything: simulate the denial instead
        path.chmod(0)
    else:
        real_open = Path.open

        def denied(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", denied)
    try:
        with pytest.raises(SourceError, match=r"private\.pdf: permission denied"):
            open_document(path)
    finally:
        path.chmod(0o644)


def test_source_error_pickles() -> None:
    err = SourceError(Path("/data/report.pdf"), "PDF is encrypted\n(password-protected)")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) == "/data/report.pdf: PDF is encrypted (password-protected)"
    assert back.path == Path("/data/report.pdf")
    assert back.message == err.message


# ------------------------------------------------------------------------------------------ good inputs


def test_pdf_pages(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "three.pdf", n_pages=3)
    with open_document(path) as doc:
        assert (doc.kind, doc.n_pages, doc.path) == ("pdf", 3, path)
        pages = list(doc.pages())
        assert [p.page_no for p in pages] == [1, 2, 3]
        page = pages[1]
        assert (page.width_pt, page.height_pt, page.dpi) == (595, 842, PDF_DPI)
        assert page.pdf_page is not None
        image = page.render()
        assert image.mode == "RGB"
        assert image.size == page.size_px() == (1190, 1684)
        assert page.render(dpi=72).size == (595, 842)
        assert doc.page(3).page_no == 3
        with pytest.raises(IndexError):
            doc.page(4)


def test_rotated_pdf_page_is_as_displayed(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page(width=600, height=800).set_rotation(90)
    doc.save(tmp_path / "turned.pdf")
    with open_document(tmp_path / "turned.pdf") as src:
        page = src.page(1)
        assert (page.width_pt, page.height_pt) == (800, 600)
        assert page.render(dpi=72).size == (800, 600)


def test_pdf_page_limit_applies_to_render_dpi(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "a4.pdf")
    with open_document(path) as doc, pytest.raises(SourceError, match="a4.pdf: page 1 .*megapixel"):
        doc.page(1).render(dpi=72 * 40)  # 23800 x 33680 px


def test_multipage_tiff(tmp_path: Path) -> None:
    frames = [Image.new("L", (200 + 10 * i, 100), 255) for i in range(3)]
    path = tmp_path / "fax.tiff"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with open_document(path) as doc:
        assert (doc.kind, doc.n_pages) == ("image", 3)
        pages = list(doc.pages())
        assert [(p.width_pt, p.height_pt, p.dpi) for p in pages] == [
            (200, 100, IMAGE_DPI),
            (210, 100, IMAGE_DPI),
            (220, 100, IMAGE_DPI),
        ]
        assert all(p.pdf_page is None for p in pages)
        image = pages[2].render()
        assert (image.mode, image.size) == ("RGB", (220, 100))


@pytest.mark.parametrize(
    ("suffix", "fmt"),
    [
        (".png", "PNG"),
        (".jpg", "JPEG"),
        (".jpeg", "JPEG"),
        (".bmp", "BMP"),
        (".webp", "WEBP"),
        (".tif", "TIFF"),
    ],
)
def test_image_formats_render_native(tmp_path: Path, suffix: str, fmt: str) -> None:
    path = tmp_path / f"page{suffix.upper()}"  # suffix case does not matter
    Image.new("RGB", (123, 45), (200, 10, 10)).save(path, format=fmt)
    with open_document(path) as doc:
        assert doc.n_pages == 1
        page = doc.page(1)
        assert (page.width_pt, page.height_pt, page.dpi) == (123, 45, 72)
        image = page.render()
        assert (image.mode, image.size) == ("RGB", (123, 45))
        assert page.render(dpi=144).size == (246, 90)


def test_transparent_png_is_flattened_on_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    image.putpixel((5, 5), (0, 0, 0, 255))
    image.save(tmp_path / "ink.png")
    with open_document(tmp_path / "ink.png") as doc:
        out = doc.page(1).render()
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((5, 5)) == (0, 0, 0)


def test_sixteen_bit_grey_is_scaled(tmp_path: Path) -> None:
    Image.new("I;16", (10, 10), 65535).save(tmp_path / "deep.png")
    with open_document(tmp_path / "deep.png") as doc:
        assert doc.page(1).render().getpixel((0, 0)) == (255, 255, 255)


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    Image.new("RGB", (40, 20), "white").save(tmp_path / "phone.jpg", exif=exif)
    with open_document(tmp_path / "phone.jpg") as doc:
        page = doc.page(1)
        assert (page.width_pt, page.height_pt) == (20, 40)
        assert page.render().size == (20, 40)


def test_close_and_context_manager(tmp_path: Path) -> None:
    doc = open_document(_pdf(tmp_path / "one.pdf"))
    with doc as same:
        assert same is doc
    assert doc._doc.is_closed  # type: ignore[attr-defined]
    doc.close()  # twice is fine


def test_limit_is_a_module_constant() -> None:
    assert documents.MAX_PAGE_PIXELS == MAX_PAGE_PIXELS == 100_000_000


# ------------------------------------------------------------------ issue 11: geometry and damaged pages


def test_the_size_check_sees_the_page_as_rendering_does(tmp_path: Path) -> None:
    """/UserUnit 10 makes a 4000 pt MediaBox a 40000 pt page: the check refuses it as rendering would."""
    doc = pymupdf.open()
    page = doc.new_page(width=4000, height=4000)
    page.insert_text((100, 100), "wide", fontsize=40)
    doc.xref_set_key(page.xref, "UserUnit", "10")
    doc.save(tmp_path / "unit.pdf")
    with pytest.raises(SourceError, match="80000 x 80000 px"):
        open_document(tmp_path / "unit.pdf")
    doc.xref_set_key(page.xref, "UserUnit", "2")  # 8000 pt: 16000 px a side, 256 MP, still too large
    doc.save(tmp_path / "unit2.pdf")
    with pytest.raises(SourceError, match="16000 x 16000 px"):
        open_document(tmp_path / "unit2.pdf")


TEXTS = [f"Page {n}: the harbour ledger lists the ships that arrived this week." for n in (1, 2, 3)]


def _cut_in_last_stream(path: Path) -> Path:
    from tests.conftest import make_pdf

    whole = make_pdf(path.with_suffix(".whole"), TEXTS).read_bytes()
    path.write_bytes(whole[: whole.rfind(b"endstream") - 40])
    return path


def test_a_truncated_pdf_names_its_damaged_page(tmp_path: Path) -> None:
    """The file opens (MuPDF repairs it), its first pages read; the cut page is an error, not empty text."""
    from indexer.page_text import extract_text
    from tests.conftest import make_pdf

    with open_document(_cut_in_last_stream(tmp_path / "cut.pdf")) as doc:
        assert doc.n_pages == 3
        for n in (1, 2):
            assert extract_text(doc.page(n), None).text == TEXTS[n - 1]
        with pytest.raises(SourceError, match="page 3 is damaged"):
            doc.page(3)
    with open_document(make_pdf(tmp_path / "whole.pdf", TEXTS)) as doc:  # an intact file: every page reads
        assert [extract_text(p, None).text for p in doc.pages()] == TEXTS

"""What a repaired PDF lost, page by page: a missing page object, content or image streams cut short.

MuPDF repairs a truncated file (a broken download) and opens it; the pages whose objects lay past the cut then
read as empty, with only a warning in MuPDF's message store. Those warnings are process-wide (another thread
rendering another file adds its own), so the checks here look at the file's structure instead: the page
object is a page, every content and image stream it uses is a stream, a Flate stream inflates to its end, and
no stream's data runs into the end of the file (the object the cut went through: in an intact file every
stream is followed by `endstream`, `endobj` and the trailer). Run only on documents MuPDF had to repair: an
intact file is never taken apart this way.
"""

from __future__ import annotations

import zlib

from indexer.pdf import pymupdf

TAIL_BYTES = 4096  # how much of the file's end a stream's last bytes are compared with
_MIN_MATCH = 8  # fewer bytes could match the file's end by chance


def page_damage(doc: pymupdf.Document, page: pymupdf.Page, tail: bytes) -> str | None:
    """Why a page of a repaired document cannot be read whole, or None when nothing is missing.

    Args:
        doc: the open document (repaired by MuPDF).
        page: one of its pages, loaded.
        tail: the last TAIL_BYTES bytes of the file.
    Returns:
        a few words for an error message ("its content stream is cut short"), or None.
    """
    try:
        if doc.xref_get_key(page.xref, "Type") != ("name", "/Page"):
            return "its page object is missing"
        contents = page.get_contents()
        images = [item[0] for item in page.get_images(full=False)]
    except (RuntimeError, ValueError):
        return "its page object cannot be read"
    end = tail.rstrip()
    for what, xrefs in (("its content stream", contents), ("an image on it", images)):
        for xref in xrefs:
            problem = _stream_damage(doc, xref, end)
            if problem:
                return f"{what} {problem}"
    return None


def _stream_damage(doc: pymupdf.Document, xref: int, end: bytes) -> str | None:
    try:
        if not doc.xref_is_stream(xref):
            return "is missing"
        kind, value = doc.xref_get_key(xref, "Filter")
        raw = doc.xref_stream_raw(xref)
    except (RuntimeError, ValueError):
        return "cannot be read"
    last = raw[-TAIL_BYTES:].rstrip()
    if len(last) >= _MIN_MATCH and end.endswith(last):
        return "is cut short"  # its data runs into the end of the file
    filters = value.strip("[]").split() if kind in ("name", "array") else []
    if filters == ["/FlateDecode"] or filters == ["/Fl"]:
        inflater = zlib.decompressobj()
        try:
            inflater.decompress(raw)
        except zlib.error:
            return "is corrupt"
        if not inflater.eof:
            return "is cut short"
    return None

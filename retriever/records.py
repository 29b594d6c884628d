"""Plain records exchanged between the retriever and the layers above it.

They carry no Milvus types: rows are translated to and from these in pages.py, manifest.py and tokens.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

DocStatus = Literal["indexing", "complete", "failed", "deleting"]
DOC_STATUSES: tuple[str, ...] = ("indexing", "complete", "failed", "deleting")
# How an index stores its token rows (retriever/token_quant.py): bit for bit, or 8-bit codes + row scales.
LOSSLESS = "lossless"
TOKEN_CODECS: tuple[str, ...] = (LOSSLESS, "int8", "fp8-e4m3")
TEXT_ONLY = "text"  # the mode of a page compacted to its text: no stored token rows, no decode from tokens

# A dense vector as the embedders hand it over (np.ndarray row) or as read back (list of floats).
Vector = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class IndexConfig:
    """What built an index; stored with it so a later run cannot mix incompatible vectors.

    Attributes:
        text_model: name of the text embedder (e.g. "all-MiniLM-L6-v2").
        text_dim: its output dimension (384 for MiniLM).
        mode: the resolution mode pages were encoded/rendered at (e.g. "base").
        encoder: name of the vision encoder, None for a text-only (lite) index.
        vision_dim: pooled vision embedding dimension; set exactly when `encoder` is.
        max_tiles: the tile cap of a tiled mode (Gundam: 2..9), None for the others; part of the
            identity, so pages are never cut into two tile budgets in one index.
        token_codec: how token rows are stored (TOKEN_CODECS); "lossless" unless chosen at creation.
    """

    text_model: str
    text_dim: int
    mode: str
    encoder: str | None = None
    vision_dim: int | None = None
    max_tiles: int | None = None
    token_codec: str = LOSSLESS

    def __post_init__(self) -> None:
        if not self.text_model or not self.mode:
            raise ValueError("IndexConfig needs a text_model and a mode")
        if self.text_dim <= 0:
            raise ValueError(f"text_dim must be positive, got {self.text_dim}")
        if (self.encoder is None) != (self.vision_dim is None):
            raise ValueError("IndexConfig: encoder and vision_dim must be given together")
        if self.vision_dim is not None and self.vision_dim <= 0:
            raise ValueError(f"vision_dim must be positive, got {self.vision_dim}")
        if self.max_tiles is not None and self.max_tiles <= 0:
            raise ValueError(f"max_tiles must be positive, got {self.max_tiles}")
        if self.token_codec not in TOKEN_CODECS:
            raise ValueError(
                f"unknown token codec {self.token_codec!r}; choose one of {', '.join(TOKEN_CODECS)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for status output).

        Returns:
            {"text_model", "text_dim", "mode", "encoder", "vision_dim", "max_tiles", "token_codec"}.
        """
        return asdict(self)

    def to_json(self) -> str:
        """Serialise to a compact, key-sorted JSON object.

        Returns:
            The JSON text, stable across runs (sorted keys), so it can be compared as a string. A lossless
            index leaves `token_codec` out, so its config reads the same as before codecs existed (and older
            vtrag versions can still open it).
        """
        fields = asdict(self)
        if self.token_codec == LOSSLESS:
            del fields["token_codec"]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> IndexConfig:
        """Parse what `to_json` wrote.

        Args:
            text: a JSON object with the IndexConfig fields.

        Returns:
            The IndexConfig (`token_codec` "lossless" when absent: indexes built before codecs existed).

        Raises:
            ValueError: the text is not a valid IndexConfig.
        """
        try:
            raw: dict[str, Any] = json.loads(text)
            return cls(**raw)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not an IndexConfig: {text!r}") from exc

    def __str__(self) -> str:
        vision = f", encoder={self.encoder}/{self.vision_dim}" if self.encoder else ", no vision encoder"
        tiles = f" (max {self.max_tiles} tiles)" if self.max_tiles is not None else ""
        codec = f", token_codec={self.token_codec}" if self.token_codec != LOSSLESS else ""
        return f"text_model={self.text_model}/{self.text_dim}, mode={self.mode}{tiles}{vision}{codec}"


@dataclass(frozen=True)
class TextLine:
    """One line of page text: `text[start:end]`, drawn inside `bbox` (x0, y0, x1, y1) in PDF points."""

    start: int
    end: int
    bbox: tuple[float, float, float, float]


@dataclass
class DocRecord:
    """One row of the document manifest.

    Attributes:
        doc_id: sha256 hex of the file bytes.
        source: the path the document was indexed from.
        pages: number of pages the document has.
        status: "indexing" → "complete" (or "failed"); "deleting" while delete_doc runs.
        bytes: size of the source file.
        mode: resolution mode used.
        error: why it failed, empty otherwise.
        indexed_at: Unix time (seconds) of the last manifest write by the indexer; complete_doc sets it
            to the moment the document became complete.
    """

    doc_id: str
    source: str
    pages: int
    status: DocStatus
    bytes: int
    mode: str
    error: str = ""
    indexed_at: float = 0.0


@dataclass
class PageRecord:
    """One page as stored: text, line boxes, geometry and its vectors.

    `page_no` is 1-based. `width`/`height` are in PDF points, `dpi` is the raster resolution the page was
    rendered at. Vectors are None in search hits and in `get_pages` unless asked for. `prior_text` and
    `prior_text_source` keep what the page held before a model transcript replaced its text (the audit of
    OCR write-back; empty otherwise). `token_set` names the page's current stored token rows when a
    compaction replaced them ("" = the set a build writes, named by the page id; retriever/token_sets.py);
    a page in mode TEXT_ONLY has none.
    """

    doc_id: str
    page_no: int
    source: str
    mode: str
    n_tokens: int
    text: str
    text_source: str
    width: float
    height: float
    dpi: float
    lines: list[TextLine]
    text_vec: Vector | None
    vision_vec: Vector | None = None
    prior_text: str = ""
    prior_text_source: str = ""
    token_set: str = ""

    @property
    def page_id(self) -> str:
        """The primary key of the page: "doc_id:page_no"."""
        return make_page_id(self.doc_id, self.page_no)


@dataclass(frozen=True)
class SearchHit:
    """A retrieved page (without vectors) and its fused RRF score (higher is better)."""

    page: PageRecord
    score: float


def make_page_id(doc_id: str, page_no: int) -> str:
    """Build a page id.

    Args:
        doc_id: the document id.
        page_no: 1-based page number.

    Returns:
        "doc_id:page_no".
    """
    return f"{doc_id}:{page_no}"

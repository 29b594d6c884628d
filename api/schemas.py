"""Request/response models shared by REST, the CLI's --json output and the SDK."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SearchResult(BaseModel):
    doc_id: str
    source: str = Field(description="The path the document was indexed from.")
    page: int = Field(description="1-based page number.")
    score: float
    snippet: str
    page_id: str


class SearchResponse(BaseModel):
    results: list[SearchResult]


class BBox(BaseModel):
    points: tuple[float, float, float, float] = Field(description="x0, y0, x1, y1 in PDF points (1/72 in).")
    pixels: tuple[float, float, float, float] = Field(description="The same box in the page raster's pixels.")
    dpi: float = Field(description="Pixels per inch of that raster.")


class Citation(BaseModel):
    doc_id: str
    source: str
    page: int
    bbox: BBox | None = None


class AnswerResponse(BaseModel):
    answer: str
    mode: str = Field(description="What produced the answer: extractive | generate | ocr-fallback.")
    citations: list[Citation]
    score: float = 0.0
    pages: list[SearchResult] = Field(default_factory=list, description="The pages the answer was read from.")

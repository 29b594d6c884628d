"""The one set of request/response models: REST routes declare them, the SDK returns them, the CLI prints.

REST's `XRequest` / `XResponse`; where the CLI's --json shows the same thing, REST's model is the CLI's plus
the fields only a server has (`SearchHit` = `SearchResult` + `image_url`). Only pydantic is imported here: the
SDK returns these models, and importing the SDK must stay light (no torch, transformers or pymilvus, nothing
else of vtrag). Static bounds here are hard ceilings for the OpenAPI schema; the server's settings may set
tighter limits, checked in the routes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

DOC_ID_PATTERN = r"^[0-9a-f]{64}$"
PAGE_ID_PATTERN = r"^[0-9a-f]{64}:[1-9][0-9]{0,5}$"
JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_TEXT_CHARS = 20_000  # ceiling of every free-text field; the server's max_question_chars is tighter
MAX_FILTER_DOCS = 100

# C0/C1 control characters other than tab/newline, and lone surrogates (JSON allows "\ud800"; UTF-8 does not).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def safe_text(value: str) -> str:
    """The rules every free text (a query, a question) follows on every surface: REST validates request bodies
    with them (`SafeText`), the service facade checks the CLI's input with them.

    Raises:
        ValueError: control characters or unpaired surrogates (bytes that were not UTF-8 on a command line
            arrive as those), blank, or over MAX_TEXT_CHARS.
    """
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"text must be at most {MAX_TEXT_CHARS} characters")
    if _UNSAFE.search(value):
        raise ValueError("text must not contain control characters or unpaired surrogates")
    if not value.strip():
        raise ValueError("text must not be blank")
    return value


SafeText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(safe_text)]
DocId = Annotated[str, Field(pattern=DOC_ID_PATTERN, description="sha256 hex of the document's bytes.")]
PageId = Annotated[str, Field(pattern=PAGE_ID_PATTERN, description='"doc_id:page_no", page_no 1-based.')]
AnswerMode = Literal["auto", "generate", "extract", "extractive"]
ExtractTask = Literal["markdown", "free_ocr", "figure", "locate"]
ModeName = Literal["tiny", "small", "base", "large", "gundam"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------- errors


class ErrorBody(BaseModel):
    type: str = Field(
        description="Machine-readable kind, e.g. validation_error, not_found, payload_too_large."
    )
    message: str
    detail: object | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# ---------------------------------------------------------------------------------------------- search


class SearchFilters(_Request):
    doc_ids: list[DocId] | None = Field(
        None, max_length=MAX_FILTER_DOCS, description="Only pages of these documents."
    )


class SearchRequest(_Request):
    query: SafeText
    top_k: int = Field(10, ge=1, le=100)
    filters: SearchFilters | None = None


class SearchResult(BaseModel):
    """One page found, as `vtrag search|similar --json` print it."""

    doc_id: str
    source: str = Field(description="The path a build indexed (over REST: an uploaded file's name).")
    page: int = Field(description="1-based page number.")
    score: float
    snippet: str
    page_id: str


class SearchResults(BaseModel):
    """Pages found for a query or like a page: the Service's `search` and `similar`, the CLI's --json."""

    results: Sequence[SearchResult]


class SearchHit(SearchResult):
    """One page found, over REST: the CLI's fields and where to get the page's image."""

    image_url: str = Field(
        description="PNG render of the page (GET, same credentials): a path on this server, or a URL on the "
        "server's configured public base URL."
    )


class SearchResponse(SearchResults):
    results: Sequence[SearchHit]


# ---------------------------------------------------------------------------------------------- answer


class AnswerRequest(_Request):
    question: SafeText
    top_k: int | None = Field(None, ge=1, le=100, description="Pages retrieved (default: the server's).")
    mode: AnswerMode = Field(
        "auto",
        description="auto: generate from stored tokens when a decoder is configured, else extractive; "
        "generate: decoder only (400 without one); extract: full OCR of the top pages, then read; "
        "extractive: read the stored page text.",
    )
    full_ocr: bool = Field(False, description="Always answer from a fresh full OCR of the top pages.")
    filters: SearchFilters | None = None


class BBox(BaseModel):
    points: tuple[float, float, float, float] = Field(description="x0, y0, x1, y1 in PDF points (1/72 in).")
    pixels: tuple[float, float, float, float] = Field(description="The same box in the page raster's pixels.")
    dpi: float = Field(description="Pixels per inch of that raster.")
    page_size: tuple[float, float] | None = Field(
        None,
        description="The page's (width, height) in PDF points, as displayed: the frame `points` is in, so "
        "a box scales onto any rendering of the page by its size over this.",
    )


class Citation(BaseModel):
    doc_id: str
    source: str
    page: int
    page_id: str
    bbox: BBox | None = None


class Passage(Citation):
    """An answer's supporting passage: the sentence or lines around the span, with its page and box."""

    text: str = Field(description="The sentence or lines around the answer (at most 300 characters).")
    span: tuple[int, int] = Field(description="The answer's [start, end) character offsets in `text`.")
    score: float = Field(description="The reader's ranking score of this passage (higher is better).")


class PageUsed(BaseModel):
    doc_id: str
    source: str
    page: int
    page_id: str
    score: float


class ContextTokens(BaseModel):
    vision: int = Field(0, description="Stored vision-token rows fed to the decoder.")
    text: int = Field(
        0,
        description="Text tokens read: the prompt's text tokens when generating; the page text the reader "
        "saw otherwise (decoder tokenizer when loaded, else whitespace-separated words).",
    )


class Fallback(BaseModel):
    ran: bool = False
    reason: str | None = Field(
        None, description="guard_fired | empty | low_confidence | no_tokens | requested (full_ocr/extract)."
    )
    engine: str | None = Field(
        None, description="What read the pages: deepseek-ocr, deepseek-ocr-2, rapidocr."
    )
    trail: list[str] = Field(default_factory=list, description="Each step tried, in order, and its outcome.")


class AnswerResponse(BaseModel):
    answer: str
    mode: str = Field(description="What produced the answer: extractive | generate | ocr-fallback.")
    citations: list[Citation]
    pages: list[PageUsed] = Field(description="The pages the answer was read from.")
    context_tokens: ContextTokens
    fallback: Fallback
    score: float = Field(0.0, description="Extractive reader score (0..1); 0 for generated answers.")
    confidence: float | None = Field(None, description="Mean token log-prob of a generated answer.")
    passage: Passage | None = Field(
        None, description="The answer's supporting passage (extractive answers); its `span` marks the answer."
    )
    passages: list[Passage] = Field(
        default_factory=list,
        description="The supporting passages the reader ranked across the pages, best first (the first is "
        "`passage`).",
    )
    reader: str | None = Field(
        None, description="Which extractive reader answered: `rules`, or the trained reader's name."
    )
    timings_ms: dict[str, float] = Field(
        default_factory=dict,
        description="Milliseconds per stage of this answer, in the order run: retrieve, fetch (the stored "
        "token rows), generate (prefill and new tokens, the wait for the model included), fallback (full "
        "OCR), read (the extractive reader). Stages not run are absent. REST also sends them as "
        "`Server-Timing`.",
    )


# ---------------------------------------------------------------------------------------------- extract


class ExtractRequest(_Request):
    page_id: PageId
    task: ExtractTask = "markdown"
    query: SafeText | None = Field(None, description="The text to find (task locate).")
    max_new_tokens: int | None = Field(None, ge=1, le=8192)


class ExtractBox(BaseModel):
    """A grounding box on the page: its label, in PDF points and in pixels of the page raster."""

    label: str
    points: tuple[float, float, float, float]
    pixels: tuple[float, float, float, float]


class PageReading(BaseModel):
    """One page read out: its text and boxes, and how sure the model was (when a model read it)."""

    page_id: str
    task: str
    text: str
    boxes: list[ExtractBox]
    confidence: float | None = None
    guard_fired: bool = False
    vision_tokens: int = 0
    written_back: bool = Field(
        False,
        description="The reading replaced the page's stored text (OCR write-back, VTRAG_OCR_WRITE_BACK).",
    )


class ExtractResult(PageReading):
    """A page decoded from its stored tokens: the Service's `extract`, `vtrag extract --json`."""

    raw: str = Field(description="The model's output, grounding markup kept.")


class ExtractResponse(PageReading):
    """POST /v1/extract: the reading and what read it."""

    engine: str = Field(description="deepseek-ocr(-2) from stored tokens, or 'index' (the stored page text).")


# ---------------------------------------------------------------------------------------------- documents


class DocumentResponse(BaseModel):
    doc_id: str
    source: str
    filename: str | None = Field(None, description="The name the file was uploaded under.")
    pages: int
    status: str = Field(description="indexing | complete | failed | deleting")
    bytes: int
    mode: str
    error: str = ""
    indexed_at: float = 0.0


class DocumentListResponse(BaseModel):
    documents: list[DocumentResponse]
    total: int


class DeleteResponse(BaseModel):
    deleted: list[str]


class UploadedFile(BaseModel):
    filename: str
    doc_id: str
    bytes: int
    pages: int


class UploadResponse(BaseModel):
    job_id: str
    files: list[UploadedFile]


# ---------------------------------------------------------------------------------------------- jobs


JobStatus = Literal["queued", "running", "succeeded", "partial", "failed"]


class JobFile(BaseModel):
    filename: str
    doc_id: str
    status: str = Field(description="queued | indexed | replaced | unchanged | failed")
    pages: int = 0
    error: str = ""


class JobProgress(BaseModel):
    files_done: int = 0
    files_total: int = 0
    pages_done: int = 0
    pages_total: int = 0


class JobResponse(BaseModel):
    job_id: str
    status: JobStatus
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress: JobProgress
    files: list[JobFile]
    error: str = ""

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "partial", "failed")


# ---------------------------------------------------------------------------------------------- service


class PageGroup(BaseModel):
    """Pages of one mode, token codec or text source, and their bytes (token bytes: the payload in its codec,
    before zstd and base64); `bytes_per_million_pages`: text + tokens at this group's mean page."""

    pages: int
    text_bytes: int
    token_bytes: int
    bytes_per_million_pages: int


class IndexCounts(BaseModel):
    """What the complete documents of the index hold, and the config it was built with.

    `by_mode`, `by_codec` (token codec; "none": no token rows) and `by_text_source` split the pages and bytes;
    `projected_bytes_per_million_pages` ("text", "tokens", "total") scales the index's mean page to a million.
    They default to empty for servers older than this accounting.
    """

    documents: int
    pages: int
    pages_by_text_source: dict[str, int]
    bytes: dict[str, int]
    incomplete_documents: int
    config: dict[str, object]
    by_mode: dict[str, PageGroup] = {}
    by_codec: dict[str, PageGroup] = {}
    by_text_source: dict[str, PageGroup] = {}
    projected_bytes_per_million_pages: dict[str, int] = {}


class IndexStatus(IndexCounts):
    """The Service's `status`, `vtrag index status --json`: the counts and where the index lives."""

    index: str


class StatusResponse(IndexCounts):
    """GET /v1/status: the counts (never the server's paths) and the upload jobs waiting."""

    jobs_queued: int = 0


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    checks: dict[str, str]

"""REST/SDK bodies of optical forgetting: `POST /v1/admin/compact` (issue 18, api/service/compaction.py)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.client.schemas import MAX_FILTER_DOCS, DocId

DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?[smhdw]$"
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
Duration = Field(None, pattern=DURATION_PATTERN, description='A duration such as "90d", "12h", "2w", "30m".')


def duration_seconds(text: str) -> float:
    """Seconds in a duration like "90d" (units s, m, h, d, w). ValueError names the form wanted."""
    if not re.fullmatch(DURATION_PATTERN, text.strip()):
        raise ValueError(f"bad duration {text!r}: use a number and a unit s, m, h, d or w, e.g. 90d")
    text = text.strip()
    return float(text[:-1]) * _UNIT_SECONDS[text[-1]]


class CompactRequest(BaseModel):
    """Which pages to compact and how. At least one of not_read_for, older_than, doc_ids or all."""

    model_config = ConfigDict(extra="forbid")

    to: Literal["small", "tiny", "text"] = Field(
        description="Re-encode in this smaller mode, or keep the text only (no token rows)."
    )
    not_read_for: str | None = Duration
    older_than: str | None = Duration
    doc_ids: list[DocId] = Field(default_factory=list, max_length=MAX_FILTER_DOCS)
    all: bool = Field(False, description="Every page larger than the target (no other condition).")
    dry_run: bool = Field(False, description="Only say which pages and how many bytes, change nothing.")
    token_codec: Literal["lossless", "int8", "fp8-e4m3"] | None = Field(
        None, description="How the new token rows are stored (default: the index's codec)."
    )
    limit: int = Field(0, ge=0, le=10_000_000, description="At most this many pages, coldest first (0: all).")
    batch_pages: int = Field(8, ge=1, le=256, description="Pages rendered, encoded and swapped together.")


class CompactResult(BaseModel):
    """The plan (dry run) or what was done: pages, bytes before/after, pages skipped and why."""

    dry_run: bool
    target: str
    token_codec: str
    pages: int = Field(description="Pages the plan picked.")
    bytes_now: int = Field(description="Token bytes those pages take now.")
    bytes_after: int = Field(description="Token bytes they take after (estimated in a dry run).")
    skipped: dict[str, int] = Field(default_factory=dict, description="Pages left as they are, by reason.")
    compacted: int = 0
    failed: int = 0
    swept: int = Field(0, description="Stale token sets of an interrupted compaction removed first.")
    bytes_before: int = 0
    seconds: float = 0.0
    pages_per_s: float = 0.0
    errors: list[dict[str, str]] = Field(default_factory=list)

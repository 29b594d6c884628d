"""What a build reports: one outcome per file, counts, and seconds per stage (plain data, for events)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]


@dataclass
class FileOutcome:
    path: str
    status: str  # indexed | replaced | unchanged | failed
    doc_id: str = ""
    pages: int = 0
    error: str = ""

    def as_event(self) -> Event:
        event: Event = {
            "event": "document",
            "path": self.path,
            "status": self.status,
            "doc_id": self.doc_id,
            "pages": self.pages,
        }
        if self.error:
            event["error"] = self.error
        return event


@dataclass
class BuildReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    skipped: int = 0
    pages_written: int = 0
    seconds: float = 0.0
    # Seconds the build spent in each stage (extract = waiting for extracted pages): where the time goes.
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    token_writer_processes: int = 0  # processes that wrote the vision tokens (0: the writer threads did)
    write_threads: int = 0  # threads that wrote the batches (0: nothing to write)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def summary(self) -> Event:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return {
            "event": "done",
            "files": counts,
            "skipped": self.skipped,
            "pages_written": self.pages_written,
            "seconds": round(self.seconds, 3),
            "pages_per_second": round(self.pages_written / self.seconds, 2) if self.seconds else 0.0,
            "stage_seconds": {k: round(v, 3) for k, v in sorted(self.stage_seconds.items())},
            "token_writer_processes": self.token_writer_processes,
            "write_threads": self.write_threads,
        }

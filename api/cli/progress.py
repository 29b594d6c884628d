"""How a build reports progress: a rich bar on a terminal, plain lines otherwise, JSON lines with --json."""

from __future__ import annotations

import json
import sys
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class PagesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} pages/s" if speed else "-- pages/s", style="progress.data.speed")


class BuildProgress:
    """Consumes the build's events. Errors always reach the user: stderr lines, or JSON events with --json."""

    def __init__(self, *, as_json: bool, interactive: bool) -> None:
        self.as_json = as_json
        self.console = Console(stderr=True, soft_wrap=True)  # one error line per file, never wrapped
        self.bar: Progress | None = None
        self.task: Any = None
        if interactive and not as_json:
            self.bar = Progress(
                TextColumn("[bold]indexing"),
                BarColumn(),
                MofNCompleteColumn(),
                PagesPerSecond(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )

    def __enter__(self) -> BuildProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.stop()

    def on_event(self, event: dict[str, Any]) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()
            return
        kind = event["event"]
        if kind == "plan" and self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task("pages", total=event["pages"])
            else:  # another shard's plan (vtrag index build --gpus/--processes): one bar for all
                total = next(t.total for t in self.bar.tasks if t.id == self.task) or 0
                self.bar.update(self.task, total=total + event["pages"])
        elif kind == "pages" and self.bar is not None and self.task is not None:
            self.bar.advance(self.task, event["written"])
        elif kind == "document":
            self._document(event)
        elif kind == "done":
            files = ", ".join(f"{n} {status}" for status, n in sorted(event["files"].items())) or "no files"
            skipped = f", {event['skipped']} skipped (unsupported type)" if event["skipped"] else ""
            self.console.print(
                f"done: {files}{skipped}; {event['pages_written']} pages written in "
                f"{event['seconds']:.1f}s ({event['pages_per_second']} pages/s)",
                highlight=False,
            )

    def _document(self, event: dict[str, Any]) -> None:
        if event["status"] == "failed":
            self.console.print(f"[red]error[/red]: {event['path']}: {event['error']}", highlight=False)
        else:
            self.console.print(
                f"{event['status']:<9} {event['path']} ({event['pages']} page{_plural(event['pages'])})",
                highlight=False,
                markup=False,
            )


def _plural(n: int) -> str:
    return "" if n == 1 else "s"

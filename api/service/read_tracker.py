"""Remembering which pages were read, cheaply: reads are kept in memory and written to the index's
`<name>_reads` collection (retriever/reads.py) in one batch at most every `read_flush_seconds`, when many
are waiting, and when the service closes — never one write per request. A lost batch (a crash, a store
error) only makes some pages look colder than they are; it never fails the request that read them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from retriever.errors import RetrieverError
from retriever.store import IndexStore

log = logging.getLogger("vtrag.reads")
MAX_PENDING = 4096  # pages waiting before a write is due whatever the interval


class ReadTracker:
    """Pages read since the last write, and when."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.time) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._pending: dict[str, float] = {}
        self._lock = threading.Lock()
        self._last_write = time.monotonic()

    def touch(self, store: IndexStore, page_ids: Iterable[str]) -> None:
        """Note that these pages were read now; write the batch if one is due."""
        now = self._clock()
        with self._lock:
            for page_id in page_ids:
                self._pending[page_id] = now
            due = len(self._pending) >= MAX_PENDING or time.monotonic() - self._last_write >= self.interval_s
        if due:
            self.flush(store)

    def flush(self, store: IndexStore) -> int:
        """Write what is waiting; returns how many pages were written (0 after a logged store error)."""
        with self._lock:
            batch, self._pending = self._pending, {}
            self._last_write = time.monotonic()
        if not batch:
            return 0
        try:
            store.reads().record(batch)
        except RetrieverError as exc:
            log.warning("could not record %d page reads: %s", len(batch), exc)
            return 0
        return len(batch)

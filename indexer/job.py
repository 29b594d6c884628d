"""The offline index build: plan, extract, embed, write — resumable and idempotent.

Pages of consecutive documents share embed/encode batches (many small files still fill a GPU batch); each
document is written, completed or failed on its own. Crash safety comes from ordering, not from transactions
(Milvus has none):
- a document's manifest row is written first with status "indexing", which hides it from search;
- pages are written batch by batch (tokens before page rows, all upserts keyed by page), so a rerun skips the
  pages already present and rewrites a half-written one without duplicating it;
- the document is marked "complete" last, after a flush; only then is an older version of the same source
  deleted. A kill at any point leaves a state the same command finishes.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from encoder.modes import get_mode
from indexer.auto_mode import AUTO, TokenCounter, check_max_compression
from indexer.build_state import BuildOptions, Planned, Writing
from indexer.documents import open_document
from indexer.errors import SourceError
from indexer.extract import ExtractedPage
from indexer.extract_stream import ExtractTask, extracted_documents
from indexer.page_modes import page_modes, start_in_modes
from indexer.page_records import records_by_document
from indexer.report import BuildReport, Event, FileOutcome
from indexer.sources import discover, file_sha256, in_shard
from indexer.writer import BackgroundWriter, InOrder
from retriever.errors import RetrieverError
from retriever.records import PageRecord
from retriever.store import IndexStore

if TYPE_CHECKING:
    from retriever.token_writers import TokenWriters


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...


class PageEncoder(Protocol):
    """A vision encoder as the job needs it: page images in, (rows, pooled) per page out, in its own mode.
    One with a `view_mode` (encoder.modes.Mode) also takes pages already cut into that mode's views; one
    with `start` (queue, collect later: encoder.vision.DeepseekOcrEncoder) is started ahead."""

    def encode(self, images: list[Any], mode: Any = None) -> list[Any]: ...


class IndexBuilder:
    """Runs one build over a set of paths into an IndexStore.

    Args:
        store: the open index.
        embedder: dense text embedder (`embed(texts) -> (n, dim)`).
        options: mode, worker processes, write batch size, OCR on/off.
        vision: optional vision encoder; when given each page's token rows and pooled vector are stored.
        on_event: called with a plain dict for every plan / page / document / done event (progress, --json).
        count_tokens: auto mode's text-token count (the decoder's tokenizer); None: the documented estimate.
    Raises:
        ValueError: an unknown mode or tile cap, a bad max_compression, auto with an encoder of one layout.
    """

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        options: BuildOptions,
        vision: PageEncoder | None = None,
        on_event: Callable[[Event], None] | None = None,
        count_tokens: TokenCounter | None = None,
    ) -> None:
        self.auto = options.mode == AUTO
        if self.auto:
            check_max_compression(options.max_compression)
            if vision is not None and getattr(vision, "view_mode", None) is None:
                raise ValueError("--mode auto needs an encoder with resolution modes (deepseek-ocr, v1)")
        if vision is None or self.auto:
            get_mode("gundam" if self.auto else options.mode, options.max_tiles)  # ValueError early
        self.store, self.embedder, self.options, self.vision = store, embedder, options, vision
        self.count_tokens = count_tokens
        self._on_event = on_event or (lambda event: None)
        self._emit_lock = threading.Lock()  # documents are completed on a thread of their own
        self._stages: defaultdict[str, float] = defaultdict(float)
        self._stages_lock = threading.Lock()  # writer threads add their seconds too
        self._encoder: ThreadPoolExecutor | None = None  # the encoder's thread while a build runs
        self._completer: InOrder | None = None  # completes documents while a build writes
        self._token_writers: TokenWriters | None = None  # token-writer processes while a build runs

    def emit(self, event: Event) -> None:
        with self._emit_lock:
            self._on_event(event)

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._stages_lock:
                self._stages[stage] += time.perf_counter() - started

    def run(self, paths: Sequence[Path]) -> BuildReport:
        started = time.perf_counter()
        report = BuildReport()
        plan = self._plan(paths, report)
        total = sum(len(p.todo) for p in plan)
        self.emit({"event": "plan", "documents": len(plan), "pages": total})
        pool = None
        if self.options.workers > 1 and total:
            # Never fork a process whose gRPC (Milvus) threads are running: workers come from a clean server.
            context = multiprocessing.get_context("forkserver")
            # The server imports the extraction code (PyMuPDF alone is ~1.5 s) once; workers fork from it
            # with it loaded instead of each importing it again on the same cores.
            context.set_forkserver_preload(["indexer.extract", "indexer.shared_views"])
            pool = ProcessPoolExecutor(self.options.workers, mp_context=context)
        try:
            # Workers cut the views when the encoder names its mode (parallel resizing, smaller pickles).
            # Auto mode: the mode is chosen here, per page, so the workers send the raster and a figure probe.
            view_mode = None if self.auto else getattr(self.vision, "view_mode", None)
            task = ExtractTask(self.options.ocr, self.vision is not None, view_mode, self.auto)
            self._index_all(extracted_documents(plan, task, pool, self.options.workers), report)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        report.seconds = time.perf_counter() - started
        report.stage_seconds.update(self._stages)
        self.emit(report.summary())
        return report

    # -- planning: hash, skip what is already complete, validate the rest before anything is written --

    def _plan(self, paths: Sequence[Path], report: BuildReport) -> list[Planned]:
        plan: list[Planned] = []
        planned_ids: set[str] = set()
        for cand in discover(paths):
            if not in_shard(cand.path, self.options.shard):
                continue
            if cand.skipped:
                report.skipped += 1
                continue
            if cand.error:
                self._record(report, FileOutcome(str(cand.path), "failed", error=cand.error))
                continue
            try:
                doc_id = file_sha256(cand.path)
                size = cand.path.stat().st_size
            except OSError as exc:
                self._record(
                    report, FileOutcome(str(cand.path), "failed", error=f"cannot read: {exc.strerror or exc}")
                )
                continue
            if doc_id in planned_ids:  # the same bytes under a second path in this run: index once
                self._record(report, FileOutcome(str(cand.path), "unchanged", doc_id))
                continue
            existing = self.store.get_doc(doc_id)
            if existing is not None and existing.status == "complete":
                self._drop_older_versions({str(cand.path): doc_id})
                self._record(report, FileOutcome(str(cand.path), "unchanged", doc_id, existing.pages))
                continue
            try:
                with open_document(cand.path) as doc:
                    n_pages = doc.n_pages
            except SourceError as exc:
                self._record(report, FileOutcome(str(cand.path), "failed", doc_id, error=exc.message))
                continue
            if existing is not None and existing.status in ("deleting", "failed"):
                self.store.delete_doc(doc_id)  # finish an interrupted delete, or clear a failure, then afresh
                existing = None
            done = self.store.existing_pages(doc_id) if existing is not None else set()
            todo = [n for n in range(1, n_pages + 1) if n not in done]
            plan.append(Planned(cand.path, doc_id, n_pages, size, todo, fresh=existing is None))
            planned_ids.add(doc_id)
        return plan

    def _record(self, report: BuildReport, outcome: FileOutcome) -> None:
        report.outcomes.append(outcome)
        self.emit(outcome.as_event())

    # -- writing: pages of consecutive documents share batches (a GPU batch spans small documents) --

    def _index_all(
        self, documents: Iterator[tuple[Planned, Iterator[ExtractedPage]]], report: BuildReport
    ) -> None:
        """Embed, encode and write every planned page. Each document's manifest row is begun before any
        of its pages is batched and completed once its last page is written; a document that fails is
        dropped from the batch in hand and failed after its queued writes have landed."""
        # One thread starts the encodes, batch after batch (a GPU's forwards queue up while this thread
        # gathers and embeds the next batch); a batch's write collects its encode on a writer thread: one
        # more thread, so `write_threads` writes still run meanwhile. The writer's depth bounds how many
        # batches are started and not yet collected.
        self._encoder = ThreadPoolExecutor(1, "vtrag-encoder") if self.vision is not None else None
        threads = self.options.write_threads + (self._encoder is not None)
        writer = BackgroundWriter(threads=threads)
        report.write_threads = self.options.write_threads
        self._completer = InOrder("vtrag-complete")
        batch: list[tuple[Writing, ExtractedPage]] = []
        if self.vision is not None:  # tokens to write: by processes of their own when write_processes > 0
            self._token_writers = self.store.token_writers(self.options.write_processes)
            report.token_writer_processes = self.options.write_processes if self._token_writers else 0
        try:
            for planned, pages in documents:
                doc = Writing.of(planned, self.options.mode)
                if not doc.left:  # a resumed document whose pages were all written
                    self._begin([doc])
                    self._complete([doc], report)
                    continue
                try:
                    for page in self._waited(pages):
                        if doc.error is not None:
                            break  # failed with a batch it shared: its other pages are not wanted
                        batch.append((doc, page))
                        if len(batch) >= self.options.batch_pages:
                            self._submit(batch, writer, report)
                            batch = []
                except RetrieverError:
                    raise  # the store is gone: stop the job, the rerun resumes
                except Exception as exc:
                    batch = [(d, p) for d, p in batch if d is not doc]
                    self._fail([doc], exc, writer, report)
            if batch:
                self._submit(batch, writer, report)
            writer.drain()
            self._completer.wait()
        finally:
            writer.close()  # every queued write has waited for its encode
            self._completer.close()
            if self._encoder is not None:
                self._encoder.shutdown(cancel_futures=True)
            if self._token_writers is not None:
                self._token_writers.close()
                self._token_writers = None

    def _begin(self, docs: list[Writing]) -> None:
        """Store the manifest rows ("indexing") of those of `docs` not yet begun, in one upsert: before any of
        their pages is queued for writing, so a crash leaves them hidden and resumable. A batch begins its new
        documents together, on the thread that feeds the encoder (an upsert per document cost ~8 ms there)."""
        new = [doc for doc in docs if not doc.begun]
        if new:
            self.store.begin_docs([doc.record for doc in new])
            for doc in new:
                doc.begun = True

    def _submit(
        self, batch: list[tuple[Writing, ExtractedPage]], writer: BackgroundWriter, report: BuildReport
    ) -> None:
        """Embed a batch here, start its encode, and queue its writes (one `write_pages` per document), which
        wait for the encode."""
        batch = [(doc, page) for doc, page in batch if doc.error is None]  # failed since it was batched
        docs = list(dict.fromkeys(doc for doc, _ in batch))
        if not batch:
            return
        self._begin(docs)
        try:
            prepare = self._prepare_batch(batch)
        except RetrieverError:
            raise
        except Exception as exc:  # text the embedder cannot take fails the documents it was batched with
            self._fail(docs, exc, writer, report)
            return
        prepared: list[tuple[Writing, list[PageRecord], dict[int, Any] | None]] = []
        failed: list[tuple[Writing, Exception]] = []

        def write() -> None:
            try:
                prepared.extend(prepare())
            except Exception as exc:  # a page the encoder cannot take fails the documents it was batched with
                failed.extend((doc, exc) for doc in docs)
                return
            for doc, records, tokens in prepared:
                if doc.error is not None:
                    continue
                try:
                    with self._timed("write"):
                        replace = not doc.planned.fresh
                        self.store.write_pages(records, tokens, replace=replace, writers=self._token_writers)
                except RetrieverError:
                    raise
                except Exception as exc:
                    failed.append((doc, exc))

        def written() -> None:
            finished = []
            for doc, records, _ in prepared:
                if doc.error is not None or any(d is doc for d, _ in failed):
                    continue
                doc.left -= len(records)
                report.pages_written += len(records)
                self.emit({"event": "pages", "path": doc.source, "written": len(records)})
                if not doc.left:
                    finished.append(doc)
            if finished and self._completer is not None:  # in this order, after every write before it
                self._completer.submit(self._complete, finished, report)
            for doc, exc in failed:
                self._fail([doc], exc, writer, report)

        writer.submit(write, written)

    def _complete(self, docs: list[Writing], report: BuildReport) -> None:
        """Mark documents whose pages are all written complete (one flush for all), then drop older
        versions of their sources. Runs on the completer thread (a resumed document: the build's)."""
        if not docs:
            return
        with self._timed("complete"):
            completed = self.store.complete_docs([doc.doc_id for doc in docs])  # in the order asked
            replaced = self._drop_older_versions({record.source: record.doc_id for record in completed})
        for doc, record in zip(docs, completed, strict=True):
            status = "replaced" if record.source in replaced else "indexed"
            self._record(report, FileOutcome(record.source, status, record.doc_id, doc.planned.n_pages))

    def _fail(
        self, docs: list[Writing], exc: Exception, writer: BackgroundWriter, report: BuildReport
    ) -> None:
        """Fail documents: no write of theirs may land after their rows are dropped, so the queued writes
        finish first; their manifest rows then say "failed" with the error, without pages."""
        message = exc.message if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
        docs = [doc for doc in docs if doc.error is None]
        for doc in docs:
            doc.error = message  # set first: the writes drained below skip its progress
        writer.drain()
        for doc in docs:
            self.store.fail_doc(doc.record, message)
            self._record(report, FileOutcome(doc.source, "failed", doc.doc_id, error=message))

    def _waited(self, pages: Iterator[ExtractedPage]) -> Iterator[ExtractedPage]:
        """`pages`, timing how long the build waits for them (stage "extract")."""
        while True:
            with self._timed("extract"):
                page = next(pages, None)
            if page is None:
                return
            yield page

    def _prepare_batch(
        self, batch: list[tuple[Writing, ExtractedPage]]
    ) -> Callable[[], list[tuple[Writing, list[PageRecord], dict[int, Any] | None]]]:
        """Embed the batch's text (one call, whatever documents the pages come from) and start encoding its
        pages on the encoder thread. Returns a call that waits for the encode and gives, per document of the
        batch, its page records and token rows (nothing written)."""
        pages = [page for _, page in batch]
        with self._timed("embed"):
            vectors = self.embedder.embed([p.text for p in pages])
        o = self.options
        modes = page_modes(pages, o.mode, o.max_tiles, o.max_compression, self.count_tokens)
        encoding = None
        if self._encoder is not None:
            encoding = self._encoder.submit(self._encode, [p.image for p in pages], modes)
            for page in pages:
                page.image = None  # held by the encode until it is done, not by the batch until written

        def records() -> list[tuple[Writing, list[PageRecord], dict[int, Any] | None]]:
            rows: list[Any] = [None] * len(pages)
            pooled: list[list[float] | None] = [None] * len(pages)
            if encoding is not None:
                rows, pooled = encoding.result()()
            return records_by_document(batch, vectors, pooled, modes, rows)

        return records

    def _encode(
        self, images: list[Any], modes: list[Any]
    ) -> Callable[[], tuple[list[Any], list[list[float] | None]]]:
        """On the encoder thread: start the batch's encode and return the call that gives each page's token
        rows and pooled vector. A GPU encoder only queues its forwards here (stage "encode": stacking
        pixels, launching), so this thread starts the next batch while the GPU runs this one; the writer
        thread that stores the batch collects it (stage "encode_wait": waiting for the GPU)."""
        with self._timed("encode"):
            pages = start_in_modes(self.vision, images, modes)

        def result() -> tuple[list[Any], list[list[float] | None]]:
            with self._timed("encode_wait"):
                encoded = pages()
            return [e.rows for e in encoded], [e.pooled.float().tolist() for e in encoded]

        return result

    def _drop_older_versions(self, kept: dict[str, str]) -> set[str]:
        """Delete what was indexed earlier from the sources of `kept` (source → the doc_id that stays), with
        one manifest query for all of them. Returns the sources that had an older version."""
        replaced = set()
        for source, docs in self.store.docs_by_sources(kept).items():
            for doc in docs:
                if doc.doc_id != kept[source]:
                    self.store.delete_doc(doc.doc_id)
                    replaced.add(source)
        return replaced

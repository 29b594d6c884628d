"""The build job's failure handling, on a real Milvus Lite index with a stand-in embedder."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from encoder.vision import EncodedPage
from indexer import extract_stream
from indexer.build_state import default_write_threads
from indexer.extract import extract_pages
from indexer.job import BuildOptions, IndexBuilder
from retriever.records import IndexConfig
from retriever.store import IndexStore
from tests.conftest import make_pdf

# Enough letters for a text layer to be trusted (indexer/page_text.MIN_TEXT_CHARS); a shorter page goes to
# OCR, seconds each.
HARBOUR = "tide tables of the northern harbour."


class ConstantEmbedder:
    def embed(self, texts: list[str]) -> np.ndarray:
        vecs = np.zeros((len(texts), 384), dtype=np.float32)
        vecs[:, 0] = 1.0
        return vecs


def crash_on_doc1(path: str, *args: object) -> object:
    """Runs in a worker: dies like an OOM-killed process on one document."""
    if path.endswith("doc1.pdf"):
        os._exit(1)
    return extract_pages(path, *args)  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [2])
def test_a_broken_worker_pool_fails_documents_and_never_completes_them_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    for d in range(10):  # more tasks than the look-ahead window: later submits meet the broken pool
        make_pdf(tmp_path / f"doc{d}.pdf", [f"Document {d}: {HARBOUR}"] * 3)
    monkeypatch.setattr(extract_stream, "extract_pages", crash_on_doc1)
    config = IndexConfig("all-MiniLM-L6-v2", 384, "base")
    with IndexStore.open(str(tmp_path / "idx" / "milvus.db"), config) as store:
        report = IndexBuilder(store, ConstantEmbedder(), BuildOptions(workers=workers)).run([tmp_path])
        statuses = {Path(o.path).name: o.status for o in report.outcomes}
        assert statuses["doc1.pdf"] == "failed"
        complete = store.list_docs("complete")
        for doc in complete:  # whatever completed, completed whole
            assert len(store.existing_pages(doc.doc_id)) == doc.pages == 3
        assert store.stats()["pages"] == 3 * len(complete)
        failed = [o for o in report.outcomes if o.status == "failed"]
        assert all(o.error for o in failed)


@pytest.mark.parametrize("write_processes", [0, 2])
def test_vision_pages_cut_in_workers_store_the_rows_of_the_rendered_page(
    tmp_path: Path, write_processes: int
) -> None:
    """Extraction workers cut the views; the rows stored (by the writer threads, or by token-writer
    processes) equal encoding the rendered page in one process."""
    from encoder.tiny import tiny_deepseek_ocr
    from encoder.vision import DeepseekOcrEncoder
    from indexer.documents import open_document

    pdf = make_pdf(tmp_path / "doc.pdf", ["Tide tables for the northern harbour."] * 3)
    encoder = DeepseekOcrEncoder(tiny_deepseek_ocr(seed=0), mode="gundam", workers=1)
    config = IndexConfig("all-MiniLM-L6-v2", 384, "gundam", encoder="deepseek-ocr", vision_dim=encoder.dim)
    with IndexStore.open(str(tmp_path / "idx" / "milvus.db"), config) as store:
        options = BuildOptions(mode="gundam", workers=2, batch_pages=2, write_processes=write_processes)
        report = IndexBuilder(store, ConstantEmbedder(), options, vision=encoder).run([pdf])
        assert [o.status for o in report.outcomes] == ["indexed"]
        assert report.summary()["token_writer_processes"] == write_processes
        doc_id = report.outcomes[0].doc_id
        stored = store.get_tokens([f"{doc_id}:{n}" for n in (1, 2, 3)])
    with open_document(pdf) as doc:  # the same batches as the build (2 + 1 pages): bit-equal rows
        images = [doc.page(n).render() for n in (1, 2, 3)]
    direct = encoder.encode(images[:2]) + encoder.encode(images[2:])
    for n, page in zip((1, 2, 3), direct, strict=True):
        assert torch.equal(stored[f"{doc_id}:{n}"], page.rows)


def fail_on_bad(path: str, *args: object) -> object:
    """Extraction that fails for one document, as a page that cannot be rendered would."""
    if path.endswith("bad.pdf"):
        raise RuntimeError("page 1 cannot be rendered")
    return extract_pages(path, *args)  # type: ignore[arg-type]


def test_a_document_that_fails_stays_in_the_manifest_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while indexing keeps the manifest row (status failed, the error), without pages, so it can
    be listed and deleted; a rebuild of the same bytes tries again from scratch. A truncated PDF is such a
    failure, naming its cut page, not a document with an empty page."""
    whole = make_pdf(
        tmp_path / "whole.tmp", [f"Page one: {HARBOUR}", f"Page two: {HARBOUR}", f"Page three: {HARBOUR}"]
    ).read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(whole[: whole.rfind(b"endstream") - 40])
    bad = make_pdf(tmp_path / "bad.pdf", ["A page the stand-in extraction refuses."])
    monkeypatch.setattr(extract_stream, "extract_pages", fail_on_bad)
    config = IndexConfig("all-MiniLM-L6-v2", 384, "base")
    with IndexStore.open(str(tmp_path / "idx" / "milvus.db"), config) as store:
        for _ in range(2):
            report = IndexBuilder(store, ConstantEmbedder(), BuildOptions(batch_pages=1)).run([bad, cut])
            for outcome, error in zip(report.outcomes, ("cannot be rendered", "page 3"), strict=True):
                doc = store.get_doc(outcome.doc_id)
                assert doc is not None and doc.status == "failed" and error in doc.error, (outcome, doc)
                assert outcome.status == "failed" and store.existing_pages(doc.doc_id) == set()
        assert store.stats()["pages"] == 0 and store.audit()["orphan_pages"] == 0
        assert {d.doc_id for d in store.list_docs("failed")} == {o.doc_id for o in report.outcomes}
        assert (
            store.delete_doc(report.outcomes[0].doc_id) and store.get_doc(report.outcomes[0].doc_id) is None
        )


class CountingEmbedder(ConstantEmbedder):
    def __init__(self) -> None:
        self.batches: list[int] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.batches.append(len(texts))
        return super().embed(texts)


def fail_in_second_chunk(path: str, pages: list[int], *args: object) -> object:
    """The long document's second extraction task fails, after its first pages were batched."""
    if path.endswith("long.pdf") and pages[0] > extract_stream.PAGES_PER_TASK:
        raise RuntimeError(f"page {pages[0]} cannot be rendered")
    return extract_pages(path, pages, *args)  # type: ignore[arg-type]


def spy(store: IndexStore, method: str, tag: Callable[[], object] | None = None) -> list:
    """The first argument of every call of `store.<method>` as a list, or (tag(), it) with `tag`."""
    calls: list = []
    real = getattr(store, method)

    def record(first: object, *args: object) -> object:
        arg = list(first)  # type: ignore[call-overload]
        calls.append(arg if tag is None else (tag(), arg))
        return real(first, *args)

    setattr(store, method, record)
    return calls


@pytest.mark.parametrize("write_threads", [1, 3])
def test_small_documents_share_batches_and_a_failure_fails_only_its_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_threads: int
) -> None:
    """Pages of consecutive documents fill one batch (one embed / encode call for several small files); a
    document failing part-way is dropped from the batch in hand and loses the pages it had written, while
    the documents batched with it complete whole."""
    for name in ("a", "b", "c", "d"):
        make_pdf(tmp_path / f"{name}.pdf", [f"Document {name}, page {n}: {HARBOUR}" for n in (1, 2, 3)])
    make_pdf(tmp_path / "long.pdf", [f"Long document, page {n}: {HARBOUR}" for n in range(1, 11)])
    monkeypatch.setattr(extract_stream, "extract_pages", fail_in_second_chunk)
    embedder = CountingEmbedder()
    config = IndexConfig("all-MiniLM-L6-v2", 384, "base")
    with IndexStore.open(str(tmp_path / "idx" / "milvus.db"), config) as store:
        begun, asked = spy(store, "begin_docs"), spy(store, "docs_by_sources")
        completing = spy(store, "complete_docs", lambda: threading.current_thread().name)
        options = BuildOptions(batch_pages=4, write_threads=write_threads)
        report = IndexBuilder(store, embedder, options).run([tmp_path])
        # the thread that feeds the encoder talks to the manifest once a batch, not once a document
        assert [[Path(d.source).name for d in docs] for docs in begun] == [
            ["a.pdf", "b.pdf"],
            ["c.pdf"],
            ["d.pdf"],
            ["long.pdf"],
        ]
        assert {thread for thread, _ in completing} == {"vtrag-complete_0"}  # not the thread feeding the GPU
        assert [sorted(Path(s).name for s in sources) for sources in asked] == [
            ["a.pdf"],
            ["b.pdf"],
            ["c.pdf", "d.pdf"],
        ]
        statuses = {Path(o.path).name: o.status for o in report.outcomes}
        assert statuses == {"a.pdf": "indexed", "b.pdf": "indexed", "c.pdf": "indexed",
                            "d.pdf": "indexed", "long.pdf": "failed"}  # fmt: skip
        for doc in store.list_docs("complete"):
            assert store.existing_pages(doc.doc_id) == {1, 2, 3}
        (failed,) = store.list_docs("failed")
        assert "page 9" in failed.error and store.existing_pages(failed.doc_id) == set()
        assert store.stats()["pages"] == 12
        assert store.audit()["orphan_pages"] == 0
    # a, b, c, d (3 pages each) and long's first 8 pages in plan order, 4 to a batch across files:
    # [a1-3 b1] [b2-3 c1-2] [c3 d1-3] [long1-4] [long5-8]; long's are embedded, then dropped.
    assert embedder.batches == [4, 4, 4, 4, 4]


class GatedEncoder:
    """Stand-in vision encoder (8-dim rows, no view mode: pages come as rasters). Its first call waits until
    the build has embedded the next batch — only possible when encoding runs beside the build's thread —
    and it refuses any batch holding a page of `bad_text`."""

    def __init__(self, embedded_next: threading.Event, bad_text: str) -> None:
        self.embedded_next, self.bad_text = embedded_next, bad_text
        self.calls = 0
        self.overlapped = False
        self.threads: set[str] = set()
        self.texts: list[str] = []

    def encode(self, images: list, mode: object = None) -> list[EncodedPage]:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if self.calls == 1:
            self.overlapped = self.embedded_next.wait(timeout=20)
        if any(self.bad_text in t for t in self.texts[: len(images)]):
            raise RuntimeError("a page the encoder cannot take")
        del self.texts[: len(images)]
        return [
            EncodedPage(torch.full((3, 8), 0.5, dtype=torch.bfloat16), torch.ones(8) / 8**0.5) for _ in images
        ]


class SignallingEmbedder(ConstantEmbedder):
    def __init__(self, encoder: GatedEncoder, embedded_next: threading.Event) -> None:
        self.encoder, self.embedded_next, self.batches = encoder, embedded_next, 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.encoder.texts += texts  # what the encoder's next pages say (it sees only their rasters)
        self.batches += 1
        if self.batches == 2:
            self.embedded_next.set()
        return super().embed(texts)


def test_pages_are_encoded_beside_the_build_and_an_encode_failure_fails_only_its_batch(
    tmp_path: Path,
) -> None:
    """The encoder runs on its own thread, so the next batch is gathered and embedded while one is encoded
    (a GPU is kept busy); a batch the encoder refuses fails exactly the documents it held — whose pages
    written earlier are removed — and the others complete whole with their rows."""
    for name in ("a", "b", "c", "d"):
        make_pdf(tmp_path / f"{name}.pdf", [f"Document {name}, page {n}: {HARBOUR}" for n in (1, 2)])
    embedded_next = threading.Event()
    encoder = GatedEncoder(embedded_next, bad_text="Document c, page 2")
    config = IndexConfig("all-MiniLM-L6-v2", 384, "base", encoder="stand-in", vision_dim=8)
    with IndexStore.open(str(tmp_path / "idx" / "milvus.db"), config) as store:
        options = BuildOptions(batch_pages=3, write_threads=2)
        embedder = SignallingEmbedder(encoder, embedded_next)
        report = IndexBuilder(store, embedder, options, vision=encoder).run([tmp_path])
        statuses = {Path(o.path).name: o.status for o in report.outcomes}
        # batches [a1 a2 b1] [b2 c1 c2] [d1 d2]: the second is refused
        assert statuses == {"a.pdf": "indexed", "b.pdf": "failed", "c.pdf": "failed", "d.pdf": "indexed"}
        assert encoder.overlapped and encoder.threads == {"vtrag-encoder_0"}
        for doc in store.list_docs("complete"):
            tokens = store.get_tokens([f"{doc.doc_id}:{n}" for n in (1, 2)])
            assert len(tokens) == 2 and all(t.shape == (3, 8) for t in tokens.values())
        for doc in store.list_docs("failed"):
            assert "cannot take" in doc.error and store.existing_pages(doc.doc_id) == set()
        assert store.stats()["pages"] == 4 and store.audit()["orphan_pages"] == 0


class StartingEncoder:
    """Stand-in for a GPU encoder whose forwards are queued (`start`) and collected later. Collecting the
    first batch waits until the second batch has been started — only possible when the build starts a
    batch before the one before it is collected — and a batch holding a page of `bad_text` fails when
    collected, as a forward that fails on the GPU does."""

    def __init__(self, bad_text: str) -> None:
        self.bad_text = bad_text
        self.texts: list[str] = []  # what the next pages say (the embedder sees them first)
        self.started: list[str] = []
        self.collected: list[str] = []
        self.second_started = threading.Event()
        self.overlapped = False

    def encode(self, images: list, mode: object = None) -> list[EncodedPage]:
        raise AssertionError("a build starts its encodes")

    def start(self, images: list, mode: object = None) -> Callable[[], list[EncodedPage]]:
        number = len(self.started)
        self.started.append(threading.current_thread().name)
        if number == 1:
            self.second_started.set()
        bad = any(self.bad_text in t for t in self.texts[: len(images)])
        del self.texts[: len(images)]

        def collect() -> list[EncodedPage]:
            self.collected.append(threading.current_thread().name)
            if number == 0:
                self.overlapped = self.second_started.wait(timeout=20)
            if bad:
                raise RuntimeError("a forward that failed on the GPU")
            rows = torch.full((3, 8), 0.5, dtype=torch.bfloat16)
            return [EncodedPage(rows, torch.ones(8) / 8**0.5) for _ in images]

        return collect


def test_encodes_are_started_ahead_and_collected_by_the_writers(tmp_path: Path) -> None:
    """With an encoder that queues its forwards (a GPU's), the encoder thread starts batch k+1 before batch
    k is collected, and batch k is collected by the writer thread that stores it, so the GPU never waits
    for the host between batches; a batch whose encode fails when collected fails exactly its documents."""
    for name in ("a", "b", "c", "d"):
        make_pdf(tmp_path / f"{name}.pdf", [f"Document {name}, page {n}: {HARBOUR}" for n in (1, 2)])
    encoder = StartingEncoder(bad_text="Document c, page 2")
    config = IndexConfig("all-MiniLM-L6-v2", 384, "base", encoder="stand-in", vision_dim=8)
    with IndexStore.open(str(tmp_path / "idx" / "milvus.db"), config) as store:
        embedder = SignallingEmbedder(encoder, threading.Event())  # type: ignore[arg-type]
        builder = IndexBuilder(store, embedder, BuildOptions(batch_pages=3, write_threads=2), vision=encoder)
        report = builder.run([tmp_path])
        statuses = {Path(o.path).name: o.status for o in report.outcomes}
        # batches [a1 a2 b1] [b2 c1 c2] [d1 d2]: the second fails when collected
        assert statuses == {"a.pdf": "indexed", "b.pdf": "failed", "c.pdf": "failed", "d.pdf": "indexed"}
        assert encoder.overlapped
        assert set(encoder.started) == {"vtrag-encoder_0"} and len(encoder.started) == 3
        assert all(name.startswith("vtrag-writer") for name in encoder.collected)
        assert {"encode", "encode_wait"} <= set(report.summary()["stage_seconds"])
        for doc in store.list_docs("failed"):
            assert "failed on the GPU" in doc.error and store.existing_pages(doc.doc_id) == set()
        assert store.stats()["pages"] == 4 and store.audit()["orphan_pages"] == 0


def test_a_vision_build_writes_on_half_the_cores_between_2_and_8_by_default() -> None:
    """Token rows are most of a vision build's writes, and Milvus takes them faster on more threads."""
    assert default_write_threads(vision=False, cpus=64) == 2
    assert [default_write_threads(vision=True, cpus=n) for n in (1, 2, 4, 8, 16, 64)] == [2, 2, 2, 4, 8, 8]

"""The build job's failure handling, on a real Milvus Lite index with a stand-in embedder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from indexer import job
from indexer.extract import extract_pages
from indexer.job import BuildOptions, IndexBuilder
from retriever.records import IndexConfig
from retriever.store import IndexStore
from tests.conftest import make_pdf


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
        make_pdf(tmp_path / f"doc{d}.pdf", [f"Document {d} about tide tables."] * 3)
    monkeypatch.setattr(job, "extract_pages", crash_on_doc1)
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

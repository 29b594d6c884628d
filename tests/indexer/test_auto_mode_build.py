"""`--mode auto` through the build: a mixed-mode document on the tiny v1 model and Milvus Lite, whose stored
rows answer bit-exactly as the pixel path does for each page in its own mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymupdf
import pytest
import torch

from decoder import prompts
from encoder.modes import make_views, token_rows
from encoder.pixels import v1_inputs
from encoder.vision import DeepseekOcrEncoder
from indexer.documents import open_document
from indexer.job import BuildOptions, IndexBuilder
from retriever.records import IndexConfig
from retriever.store import IndexStore
from tests.indexer.test_auto_mode import dense_text, figure, slide


class ConstantEmbedder:
    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        out[:, 0] = 1.0
        return out


def mixed_pdf(tmp_path: Path) -> Path:
    """One document: a slide, a chart page and a page of dense text."""
    merged = pymupdf.open()
    for make in (slide, figure, dense_text):
        with pymupdf.open(make(tmp_path / f"{make.__name__}.pdf")) as part:
            merged.insert_pdf(part)
    path = tmp_path / "mixed.pdf"
    merged.save(path)
    return path


def build(tmp_path: Path, pdf: Path, encoder: DeepseekOcrEncoder | None) -> tuple[IndexStore, str]:
    vision = dict(encoder="deepseek-ocr", vision_dim=encoder.dim) if encoder else {}
    config = IndexConfig("all-MiniLM-L6-v2", 384, "auto", max_tiles=6, **vision)  # type: ignore[arg-type]
    store = IndexStore.open(str(tmp_path / "idx" / "milvus.db"), config)
    options = BuildOptions(mode="auto", max_tiles=6, workers=1, batch_pages=8)
    report = IndexBuilder(store, ConstantEmbedder(), options, vision=encoder).run([pdf])
    assert [o.status for o in report.outcomes] == ["indexed"]
    return store, report.outcomes[0].doc_id


def test_a_mixed_mode_document_answers_from_stored_rows_as_the_pixel_path(tmp_path: Path) -> None:
    from api.service.runtime import VisionRuntime

    runtime = VisionRuntime.tiny("deepseek-ocr", mode="auto")
    assert runtime.mode == "auto" and runtime.max_tiles == 6
    encoder = runtime.encoder
    pdf = mixed_pdf(tmp_path)
    store, doc_id = build(tmp_path, pdf, encoder)
    with store:
        ids = [f"{doc_id}:{n}" for n in (1, 2, 3)]
        pages = store.get_pages(ids)
        stored = store.get_tokens(ids)
        status = store.stats()
        assert store.get_doc(doc_id).mode == "auto"  # type: ignore[union-attr]
    assert [p.mode for p in pages] == ["tiny", "base", "gundam"]
    assert [p.n_tokens for p in pages] == [stored[i].shape[0] for i in ids]
    assert {m: g["pages"] for m, g in status["by_mode"].items()} == {"base": 1, "gundam": 1, "tiny": 1}

    with open_document(pdf) as doc:
        images = [doc.page(n).render() for n in (1, 2, 3)]
    model, gen = runtime.generator.model, runtime.generator
    for page, image in zip(pages, images, strict=True):
        rows = stored[page.page_id]
        assert rows.shape[0] == encoder.row_count(*image.size, page.mode)  # the tiny model's grids
        assert torch.equal(rows, encoder.encode([image], page.mode)[0].rows)  # the rows of the pixels
        prompt = prompts.question_prompt("What does the page say?", [f"p.{page.page_no}"])
        ids_ = torch.tensor([gen.prompt_ids([rows], prompt)])
        with torch.no_grad():
            pixels = model(input_ids=ids_, **v1_inputs([make_views(image, page.mode)])).logits[0]
        assert torch.equal(gen.prompt_logits([rows], prompt), pixels)  # bit-exact, page by page

    # One answer over all three pages, each injected with its own row count.
    rows = [stored[i] for i in ids]
    prompt = prompts.question_prompt("Which berth?", ["slide", "chart", "text"])
    assert len(gen.prompt_ids(rows, prompt)) > sum(r.shape[0] for r in rows)
    assert gen.generate(rows, prompt, max_new_tokens=4).finish_reason in ("stop", "length")


def test_auto_without_an_encoder_records_each_pages_mode_and_rows(tmp_path: Path) -> None:
    store, doc_id = build(tmp_path, mixed_pdf(tmp_path), None)
    with store:
        pages = store.get_pages([f"{doc_id}:{n}" for n in (1, 2, 3)])
    assert [p.mode for p in pages] == ["tiny", "base", "gundam"]
    assert [p.n_tokens for p in pages] == [
        token_rows(p.mode, round(p.width * 2), round(p.height * 2)) for p in pages
    ]  # 144 dpi rasters


def test_auto_refuses_an_encoder_of_one_layout_and_a_bad_target(tmp_path: Path) -> None:
    class OneLayout:
        def encode(self, images: list, mode: object = None) -> list:
            return []

    config = IndexConfig("all-MiniLM-L6-v2", 384, "auto")
    with IndexStore.open(str(tmp_path / "milvus.db"), config) as store:
        with pytest.raises(ValueError, match="auto needs an encoder with resolution modes"):
            IndexBuilder(store, ConstantEmbedder(), BuildOptions(mode="auto"), vision=OneLayout())
        with pytest.raises(ValueError, match="max_compression"):
            IndexBuilder(store, ConstantEmbedder(), BuildOptions(mode="auto", max_compression=0))

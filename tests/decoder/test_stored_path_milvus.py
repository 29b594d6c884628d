"""The mission's central claim, proven on CPU: decoding from tokens that went through Milvus gives
logits bit-identical (fp32) to the full image -> encoder -> decoder forward, for v1 (Tiny, Base, Gundam)
and OCR-2."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest
import torch
from PIL import Image

from api.service.runtime import VisionRuntime
from decoder import prompts
from encoder.modes import make_views
from encoder.pixels import v1_inputs
from retriever.records import IndexConfig, PageRecord
from retriever.store import IndexStore


def page_image(text: str, width: float = 595, height: float = 842) -> Image.Image:
    doc = pymupdf.open()
    page = doc.new_page(width=width, height=height)
    page.insert_textbox(pymupdf.Rect(40, 40, width - 40, height - 40), text, fontsize=12, fontname="helv")
    pix = page.get_pixmap(dpi=144)
    return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)


def through_milvus(tmp_path: Path, runtime: VisionRuntime, rows: list[torch.Tensor]) -> list[torch.Tensor]:
    """Store each page's rows in a real Milvus Lite index and read them back."""
    config = IndexConfig("all-MiniLM-L6-v2", 384, runtime.mode, encoder=runtime.name, vision_dim=runtime.dim)
    with IndexStore.open(str(tmp_path / "milvus.db"), config) as store:
        pages = [
            PageRecord(
                doc_id="d" * 64,
                page_no=n,
                source="x.pdf",
                mode=runtime.mode,
                n_tokens=int(r.shape[0]),
                text=f"page {n}",
                text_source="pdf",
                width=595,
                height=842,
                dpi=144,
                lines=[],
                text_vec=[1.0] + [0.0] * 383,
                vision_vec=[1.0] + [0.0] * (runtime.dim - 1),
            )
            for n, r in enumerate(rows, 1)
        ]
        store.write_pages(pages, tokens={n: r for n, r in enumerate(rows, 1)})
        got = store.get_tokens([p.page_id for p in pages])
        return [got[p.page_id] for p in pages]


@pytest.mark.parametrize("mode", ["tiny", "base", "gundam"])
def test_v1_stored_tokens_through_milvus_equal_the_pixel_path(tmp_path: Path, mode: str) -> None:
    runtime = VisionRuntime.tiny("deepseek-ocr", mode=mode)
    # A tall page (Gundam tiles it) and a wide one, with different row counts in Gundam.
    images = [
        page_image("Invoice 2291: total due 418.20 EUR by 3 May."),
        page_image("Quarterly tonnage by berth", width=1100, height=500),
    ]
    encoded = runtime.encoder.encode(images)
    stored = through_milvus(tmp_path, runtime, [e.rows for e in encoded])
    assert all(
        torch.equal(s, e.rows) and s.dtype == e.rows.dtype for s, e in zip(stored, encoded, strict=True)
    )

    prompt = prompts.question_prompt("What is the total due?", ["invoice p.1", "report p.1"])
    got = runtime.generator.prompt_logits(stored, prompt)
    model = runtime.generator.model
    ids = torch.tensor([runtime.generator.prompt_ids(stored, prompt)])
    with torch.no_grad():
        reference = model(input_ids=ids, **v1_inputs([make_views(i, mode) for i in images])).logits[0]
    assert torch.equal(got, reference)
    if mode == "gundam":
        assert stored[0].shape[0] != stored[1].shape[0]  # tiles differ by aspect ratio


def test_ocr2_stored_tokens_through_milvus_equal_the_pixel_path(tmp_path: Path) -> None:
    runtime = VisionRuntime.tiny("deepseek-ocr-2")
    images = [page_image("Harbour dues table, 1893."), page_image("A short note.", width=600, height=600)]
    encoded = runtime.encoder.encode(images)
    stored = through_milvus(tmp_path, runtime, [e.rows for e in encoded])
    prompt = prompts.question_prompt("When were the dues set?", ["dues p.1", "note p.1"])
    got = runtime.generator.prompt_logits(stored, prompt)

    encoder = runtime.encoder
    inputs = encoder.image_processor(images=images, return_tensors="pt")
    ids = torch.tensor([runtime.generator.prompt_ids(stored, prompt)])
    with torch.no_grad():
        reference = encoder.model(
            input_ids=ids,
            pixel_values=inputs["pixel_values"],
            pixel_values_local=inputs.get("pixel_values_local"),
            num_local_patches=inputs["num_local_patches"],
        ).logits[0]
    assert torch.equal(got, reference)

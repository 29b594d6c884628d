"""OCR on read, written back: a page read from its stored tokens takes the transcript as its text (tiny
random DeepSeek-OCR, Milvus Lite), so a word only the decoded text contains finds it; the policy decides
which pages, and the earlier text stays for audit."""

from __future__ import annotations

import re
from pathlib import Path

import pymupdf
import pytest
from pydantic import ValidationError

from api.service.facade import Service
from api.service.runtime import VisionRuntime
from api.settings import Settings
from tests.conftest import make_pdf


def blank_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    doc.new_page(width=595, height=842)
    doc.save(path)
    return path


@pytest.fixture(scope="module")
def runtime() -> VisionRuntime:
    return VisionRuntime.tiny(seed=3)  # this seed reads a blank page as letters and digits (seed 0: symbols)


def service(root: Path, runtime: VisionRuntime, **overrides: object) -> Service:
    # Any confidence stands (a random model is never sure), no RapidOCR: a blank page keeps empty text.
    values: dict[str, object] = dict(data_dir=root, workers=1, ocr=False, answer_min_confidence=-100.0)
    values.update(overrides)
    return Service(Settings(**values), vision=runtime)  # type: ignore[arg-type]


def build(svc: Service, tmp_path: Path) -> dict[str, str]:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    blank_pdf(docs / "blank.pdf")
    make_pdf(docs / "text.pdf", ["The harbour lighthouse was built in 1871."])
    report = svc.build([docs])
    return {Path(o.path).stem: f"{o.doc_id}:1" for o in report.outcomes}


def test_a_blank_page_read_by_the_model_becomes_findable_by_its_transcript(
    tmp_path: Path, runtime: VisionRuntime
) -> None:
    svc = service(tmp_path / "data", runtime)
    pages = build(svc, tmp_path)
    store = svc.store()
    [before] = store.get_pages([pages["blank"]])
    assert before.text == "" and before.prior_text_source == ""

    reading = svc.extract(pages["blank"], "free_ocr", max_new_tokens=24)  # < 31: no 30-gram can repeat
    assert reading.written_back
    [after] = store.get_pages([pages["blank"]], with_vectors=True)
    assert after.text == reading.text.strip() and after.text_source == "model"
    assert (after.prior_text, after.prior_text_source) == ("", before.text_source)
    assert after.vision_vec is not None and store.get_tokens([after.page_id])  # the vision side untouched
    assert after.lines and all(0 <= ln.start < ln.end <= len(after.text) for ln in after.lines)

    other = "the harbour lighthouse was built in 1871"
    words = [w for w in re.findall(r"[A-Za-z0-9]{2,}", after.text) if w.lower() not in other]
    assert words, f"the transcript {after.text!r} holds no word to search for"
    hits = store.search(words[0], None, top_k=3)  # BM25 alone: only the new text can match
    assert [h.page.page_id for h in hits][:1] == [pages["blank"]]
    assert svc.status().pages_by_text_source["model"] == 1

    # A page whose text came from the PDF's text layer keeps it under the default policy.
    kept = svc.extract(pages["text"], "markdown", max_new_tokens=16)
    assert not kept.written_back
    [text_page] = store.get_pages([pages["text"]])
    assert text_page.text_source == "pdf" and "1871" in text_page.text
    svc.close()


def test_the_policy_and_the_reading_decide(tmp_path: Path, runtime: VisionRuntime) -> None:
    off = service(tmp_path / "off", runtime, ocr_write_back="off")
    pages = build(off, tmp_path)
    assert not off.extract(pages["blank"], "free_ocr", max_new_tokens=16).written_back
    assert not off.extract(pages["blank"], "locate", query="x", max_new_tokens=8).written_back
    off.close()
    unsure = service(tmp_path / "off", runtime, answer_min_confidence=-0.01)  # no random reading stands
    assert not unsure.extract(pages["blank"], "free_ocr", max_new_tokens=16).written_back
    unsure.close()
    always = service(tmp_path / "off", runtime, ocr_write_back="always")
    assert always.extract(pages["text"], "free_ocr", max_new_tokens=16).written_back
    [page] = always.store().get_pages([pages["text"]])
    assert page.text_source == "model" and page.prior_text_source == "pdf" and "1871" in page.prior_text
    always.close()
    with pytest.raises(ValidationError, match="ocr_write_back"):
        Settings(ocr_write_back="sometimes")  # type: ignore[arg-type]


def test_the_answer_pipelines_model_fallback_writes_back(tmp_path: Path, runtime: VisionRuntime) -> None:
    svc = service(tmp_path / "data", runtime, answer_max_new_tokens=24, fallback_pages=2)
    pages = build(svc, tmp_path)
    store = svc.store()
    [before] = store.get_pages([pages["blank"]])
    answer = svc.ask("When was the lighthouse built?", full_ocr=True)
    assert answer.fallback.ran and answer.fallback.engine == "deepseek-ocr"
    [blank, text] = store.get_pages([pages["blank"], pages["text"]])
    assert blank.text and blank.text_source == "model"  # the reading replaced the empty text
    assert (blank.prior_text, blank.prior_text_source) == ("", before.text_source)
    assert any("replaced the stored text" in step for step in answer.fallback.trail)
    assert text.text_source == "pdf" and "1871" in text.text  # a text layer stays under the default policy
    svc.close()

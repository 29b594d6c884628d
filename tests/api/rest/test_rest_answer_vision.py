"""Answers in the vision profile with a tiny random DeepSeek-OCR injected into the Service: generation from
the stored tokens, and the full-OCR fallback when the repetition guard trips or confidence is too low."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.service.facade import Service
from api.service.runtime import VisionRuntime
from decoder.generate import Generator
from tests.api.conftest import CORPUS, Running, serve, settings_for, wait_job
from tests.conftest import make_pdf

QUESTION = "When was the Harbour Lighthouse built?"


@pytest.fixture(scope="module")
def vision_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("vision")
    runtime = VisionRuntime.tiny()
    # Accept any confidence: only the tests that want the threshold raise it.
    settings = settings_for(
        root / "data", answer_min_confidence=-100.0, answer_max_new_tokens=24, fallback_pages=1
    )
    with serve(settings, Service(settings, vision=runtime)) as running:
        pdf = make_pdf(root / "lighthouse.pdf", CORPUS["lighthouse.pdf"])
        with running.client() as client:
            sent = client.post("/v1/documents", files=[("files", ("lighthouse.pdf", pdf.read_bytes()))])
            assert wait_job(client, sent.json()["job_id"])["status"] == "succeeded"
        yield running


def test_pages_are_indexed_with_tokens(vision_server: Running) -> None:
    with vision_server.client() as client:
        status = client.get("/v1/status").json()
    assert status["config"]["encoder"] == "deepseek-ocr" and status["bytes"]["tokens"] > 0


def test_generate_from_stored_tokens(vision_server: Running) -> None:
    with vision_server.client() as client:
        answer = client.post("/v1/answer", json={"question": QUESTION, "mode": "generate", "top_k": 2}).json()
    assert answer["mode"] == "generate" and not answer["fallback"]["ran"], answer
    assert list(answer["timings_ms"]) == ["retrieve", "fetch", "generate"]
    assert answer["answer"] and answer["confidence"] is not None
    assert answer["context_tokens"]["vision"] == 2 * 73  # two tiny-model Base pages of stored rows
    assert answer["context_tokens"]["text"] > 0
    assert {c["page"] for c in answer["citations"]} <= {1, 2} and answer["citations"]
    assert answer["fallback"]["trail"][0].startswith("generate (2 pages, 146 vision tokens): ok")


def test_guard_trip_falls_back_to_full_ocr(vision_server: Running) -> None:
    vision = vision_server.service.vision
    assert vision is not None
    original = vision.generator
    # A 2-gram guard over a 16-token window: a random model repeats itself at once.
    vision.generator = Generator(original.model, original.tokenizer, ngram_size=2, window_size=16)
    try:
        with vision_server.client() as client:
            answer = client.post("/v1/answer", json={"question": QUESTION, "top_k": 1}).json()
            metrics = client.get("/metrics").text
    finally:
        vision.generator = original
    assert answer["mode"] == "ocr-fallback", answer
    fallback = answer["fallback"]
    assert fallback["ran"] and fallback["reason"] == "guard_fired"
    # the model's own full OCR (Gundam re-render) trips the guard too, so RapidOCR reads the page
    assert fallback["engine"] == "rapidocr"
    assert "guard_fired" in fallback["trail"][0]
    assert any("deepseek-ocr full OCR in gundam mode: guard_fired" in step for step in fallback["trail"])
    assert "1871" in answer["answer"]
    cite = answer["citations"][0]
    assert cite["page"] == 1 and cite["bbox"] is not None
    assert 'vtrag_answer_fallbacks_total{reason="guard_fired"} 1' in metrics
    assert "vtrag_guard_trips_total 2" in metrics


def test_low_confidence_and_full_ocr_flag_fall_back(vision_server: Running) -> None:
    settings = vision_server.settings
    with vision_server.client() as client:
        settings.answer_min_confidence = 0.0  # above any random model's mean log-prob
        try:
            low = client.post("/v1/answer", json={"question": QUESTION, "top_k": 1}).json()
        finally:
            settings.answer_min_confidence = -100.0
        forced = client.post("/v1/answer", json={"question": QUESTION, "top_k": 1, "full_ocr": True}).json()
        extractive = client.post("/v1/answer", json={"question": QUESTION, "mode": "extractive"}).json()
    assert low["mode"] == "ocr-fallback" and low["fallback"]["reason"] == "low_confidence"
    assert forced["mode"] == "ocr-fallback" and forced["fallback"]["reason"] == "requested"
    assert "(cached)" in forced["fallback"]["trail"][-1]  # the page was OCR'd once, by the previous answer
    assert extractive["mode"] == "extractive" and "1871" in extractive["answer"]


def test_extract_decodes_the_stored_page(vision_server: Running) -> None:
    with vision_server.client() as client:
        doc = client.get("/v1/documents").json()["documents"][0]["doc_id"]
        out = client.post(
            "/v1/extract", json={"page_id": f"{doc}:1", "task": "free_ocr", "max_new_tokens": 8}
        )
    assert out.status_code == 200, out.text
    body = out.json()
    assert body["engine"] == "deepseek-ocr" and body["vision_tokens"] == 73 and body["confidence"] is not None

"""The REST routes end to end over HTTP: uvicorn on loopback, Milvus Lite in a temporary data dir."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

from PIL import Image

from api.rest.jobs import JobRunner
from api.rest.uploads import StoredUpload
from api.service.metrics import Metrics
from tests.api.conftest import Running, serve, settings_for, wait_job
from tests.conftest import make_pdf


def test_health_ready_openapi(lite_server: Running) -> None:
    with lite_server.client(key=None) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert client.get("/openapi.json").status_code == 401  # the docs are reads (docs_access=read)
    with lite_server.client() as client:
        spec = client.get("/openapi.json").json()
        assert {
            "/v1/search",
            "/v1/answer",
            "/v1/extract",
            "/v1/documents",
            "/v1/jobs/{job_id}",
            "/v1/documents/{doc_id}",
            "/v1/pages/{page_id}/image",
        } <= set(spec["paths"])
        assert client.get("/docs").status_code == 200


def test_search_answer_extract_image(lite_server: Running, indexed: dict[str, str]) -> None:
    lighthouse = indexed["lighthouse.pdf"]
    with lite_server.client() as client:
        hits = client.post("/v1/search", json={"query": "keeper storm lamp", "top_k": 3}).json()["results"]
        top = hits[0]
        assert (top["doc_id"], top["page"], top["source"]) == (lighthouse, 1, "lighthouse.pdf")
        assert "storm" in top["snippet"] and top["page_id"] == f"{lighthouse}:1"
        only = client.post(
            "/v1/search", json={"query": "keeper", "top_k": 5, "filters": {"doc_ids": [indexed["bread.pdf"]]}}
        ).json()["results"]
        assert {h["doc_id"] for h in only} <= {indexed["bread.pdf"]}

        image = client.get(top["image_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(image.content)).size == (1190, 1684)  # A4 at 144 dpi
        small = client.get(top["image_url"], params={"mode": "tiny"})
        assert max(Image.open(io.BytesIO(small.content)).size) == 512

        answer = client.post("/v1/answer", json={"question": "When was the Harbour Lighthouse built?"}).json()
        assert "1871" in answer["answer"] and answer["mode"] == "extractive"
        assert answer["fallback"] == {"ran": False, "reason": None, "engine": None, "trail": []}
        cite = answer["citations"][0]
        assert (cite["doc_id"], cite["page"], cite["source"]) == (lighthouse, 1, "lighthouse.pdf")
        x0, y0, x1, y1 = cite["bbox"]["points"]
        assert 0 <= x0 < x1 <= 595 and 0 <= y0 < y1 <= 842
        assert answer["context_tokens"]["vision"] == 0 and answer["context_tokens"]["text"] > 0
        assert lighthouse in {p["doc_id"] for p in answer["pages"]}

        located = client.post(
            "/v1/extract", json={"page_id": f"{lighthouse}:1", "task": "locate", "query": "Thomas Rowe"}
        ).json()
        assert located["engine"] == "index" and "Thomas Rowe" in located["text"]
        assert (
            len(located["boxes"]) == 1
            and located["boxes"][0]["pixels"][0] == located["boxes"][0]["points"][0] * 2
        )
        markdown = client.post("/v1/extract", json={"page_id": f"{lighthouse}:2"}).json()
        assert "electric light" in markdown["text"]
        figure = client.post("/v1/extract", json={"page_id": f"{lighthouse}:2", "task": "figure"})
        assert figure.status_code == 409 and figure.json()["error"]["type"] == "unavailable_for_page"


def server_timing(header: str) -> dict[str, float]:
    """`Server-Timing: retrieve;dur=1.2, read;dur=3.4` as {stage: ms}."""
    stages = [part.strip().split(";dur=") for part in header.split(",")]
    return {name: float(ms) for name, ms in stages}


def test_answers_say_where_their_time_went(lite_server: Running, indexed: dict[str, str]) -> None:
    """Each answer's stages in run order, in `timings_ms` and the `Server-Timing` header alike; none takes
    longer than the request itself."""
    with lite_server.client() as client:
        started = time.perf_counter()
        sent = client.post("/v1/answer", json={"question": "When was the Harbour Lighthouse built?"})
        wall_ms = (time.perf_counter() - started) * 1000
    timings = sent.json()["timings_ms"]
    assert list(timings) == ["retrieve", "read"]  # the lite profile: no stored tokens, no fallback
    assert server_timing(sent.headers["server-timing"]) == timings
    assert all(ms > 0 for ms in timings.values()) and sum(timings.values()) < wall_ms


def test_answer_from_full_ocr_in_the_lite_profile(lite_server: Running, indexed: dict[str, str]) -> None:
    """mode=extract: the top page is re-rendered from the stored upload and read by RapidOCR."""
    with lite_server.client() as client:
        sent = client.post(
            "/v1/answer",
            json={"question": "Who introduced movable metal type?", "mode": "extract", "top_k": 1},
        )
        answer = sent.json()
    assert list(answer["timings_ms"]) == ["retrieve", "fallback", "read"]
    assert server_timing(sent.headers["server-timing"]) == answer["timings_ms"]
    assert answer["mode"] == "ocr-fallback"
    assert answer["fallback"]["ran"] and answer["fallback"]["reason"] == "requested"
    assert answer["fallback"]["engine"] == "rapidocr"
    assert "Gutenberg" in answer["answer"]
    assert answer["citations"][0]["doc_id"] == indexed["printing.pdf"]


def test_documents_status_metrics(lite_server: Running, indexed: dict[str, str]) -> None:
    with lite_server.client() as client:
        listed = client.get("/v1/documents").json()
        names = {d["filename"] for d in listed["documents"]}
        assert set(indexed) <= names and listed["total"] >= 3
        doc = client.get(f"/v1/documents/{indexed['lighthouse.pdf']}").json()
        assert doc["status"] == "complete" and doc["pages"] == 2 and doc["source"] == "lighthouse.pdf"
        status = client.get("/v1/status").json()
        assert status["documents"] >= 3 and status["pages"] >= 4
        # The accounting: every page in one mode (base), no token rows in the lite profile, per text source.
        assert status["by_mode"]["base"]["pages"] == status["pages"]
        assert status["by_codec"] == {"none": status["by_mode"]["base"]}
        assert sum(g["pages"] for g in status["by_text_source"].values()) == status["pages"]
        projected = status["projected_bytes_per_million_pages"]
        assert projected["total"] == round(status["bytes"]["text"] * 1_000_000 / status["pages"]) > 0
        text = client.get("/metrics").text
    assert "# TYPE vtrag_http_request_duration_seconds histogram" in text
    assert (
        'vtrag_http_request_duration_seconds_bucket{method="POST",route="/v1/search",status="200",le="+Inf"}'
        in text
    )
    assert "vtrag_pages_indexed_total" in text and "vtrag_answer_fallbacks_total" in text
    assert "vtrag_guard_trips_total" in text


def test_upload_stores_by_content_hash_and_delete_removes_everything(
    lite_server: Running, tmp_path: Path
) -> None:
    pdf = make_pdf(tmp_path / "x.pdf", ["A quokka is a small wallaby found on Rottnest Island near Perth."])
    uploads = Path(lite_server.settings.data_dir) / "uploads"
    with lite_server.client() as client:
        sent = client.post("/v1/documents", files=[("files", ("../../../etc/passwd.pdf", pdf.read_bytes()))])
        assert sent.status_code == 202
        doc_id = sent.json()["files"][0]["doc_id"]
        assert sent.json()["files"][0]["filename"] == "passwd.pdf"
        job = wait_job(client, sent.json()["job_id"])
        assert job["status"] == "succeeded" and job["progress"]["pages_done"] == 1
        assert job["files"][0]["status"] == "indexed"
        assert (uploads / f"{doc_id}.pdf").read_bytes() == pdf.read_bytes()
        assert not list(Path(lite_server.settings.data_dir).parent.rglob("passwd*"))

        hits = client.post("/v1/search", json={"query": "quokka Rottnest", "top_k": 1}).json()["results"]
        assert hits[0]["doc_id"] == doc_id and hits[0]["source"] == "passwd.pdf"

        assert client.delete(f"/v1/documents/{doc_id}").json() == {"deleted": [doc_id]}
        assert client.get(f"/v1/documents/{doc_id}").status_code == 404
        assert client.delete(f"/v1/documents/{doc_id}").status_code == 404
        hits = client.post("/v1/search", json={"query": "quokka Rottnest", "top_k": 5}).json()["results"]
        assert doc_id not in {h["doc_id"] for h in hits}
        assert not list(uploads.glob(f"{doc_id}*"))


class _StubService:
    """Emits the build job's events, one file failing, as the real build does."""

    def build(self, paths, *, on_event):  # noqa: ANN001, ANN201
        on_event({"event": "plan", "documents": 2, "pages": 3})
        on_event({"event": "pages", "path": str(paths[0]), "written": 3})
        on_event({"event": "document", "path": str(paths[0]), "status": "indexed", "doc_id": "a", "pages": 3})
        on_event(
            {
                "event": "document",
                "path": str(paths[1]),
                "status": "failed",
                "doc_id": "b",
                "pages": 0,
                "error": "page 2 cannot be rendered",
            }
        )


def test_job_reports_progress_and_per_file_errors(tmp_path: Path) -> None:
    metrics = Metrics()
    runner = JobRunner(_StubService(), write_lock=threading.Lock(), metrics=metrics, max_pending=4)  # type: ignore[arg-type]
    runner.start()
    try:
        job = runner.submit(
            [
                StoredUpload("a", tmp_path / "a.pdf", "a.pdf", 10, 3),
                StoredUpload("b", tmp_path / "b.pdf", "b.pdf", 10, 2),
            ]
        )
        for _ in range(200):
            view = runner.get(job.job_id)
            if view is not None and view.done:
                break
            threading.Event().wait(0.01)
    finally:
        runner.stop()
    assert view.status == "partial"
    assert (view.progress.pages_done, view.progress.pages_total, view.progress.files_done) == (3, 3, 2)
    assert [(f.filename, f.status, f.error) for f in view.files] == [
        ("a.pdf", "indexed", ""),
        ("b.pdf", "failed", "page 2 cannot be rendered"),
    ]
    assert 'vtrag_documents_indexed_total{status="failed"} 1' in metrics.render()


def test_uploads_left_unindexed_are_resumed_at_startup(tmp_path: Path) -> None:
    """An upload stored before a restart, but never indexed, is queued again when the server starts."""
    import hashlib
    import json

    data = tmp_path / "data"
    pdf = make_pdf(
        tmp_path / "a.pdf", ["The ferry to the island leaves at seven every morning."]
    ).read_bytes()
    doc_id = hashlib.sha256(pdf).hexdigest()
    (data / "uploads").mkdir(parents=True)
    (data / "uploads" / f"{doc_id}.pdf").write_bytes(pdf)
    (data / "uploads" / f"{doc_id}.json").write_text(json.dumps({"filename": "ferry.pdf"}))
    with serve(settings_for(data)) as running, running.client() as client:
        for _ in range(300):
            doc = client.get(f"/v1/documents/{doc_id}")
            if doc.status_code == 200 and doc.json()["status"] == "complete":
                break
            threading.Event().wait(0.1)
        assert doc.json()["source"] == "ferry.pdf"
        hits = client.post("/v1/search", json={"query": "ferry island", "top_k": 1}).json()["results"]
        assert hits[0]["doc_id"] == doc_id

"""Every limit and every kind of bad input: its 4xx, in the error shape, and the index left as it was."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.api.conftest import LIMITS, Running
from tests.conftest import make_pdf

DOC = "0" * 64


@pytest.fixture
def unchanged(lite_server: Running, indexed: dict[str, str]) -> Iterator[httpx.Client]:
    """A client; after the test the index status and the stored uploads must be exactly as before."""
    uploads = Path(lite_server.settings.data_dir) / "uploads"
    with lite_server.client() as client:
        before = client.get("/v1/status").json(), sorted(p.name for p in uploads.rglob("*"))
        yield client
        after = client.get("/v1/status").json(), sorted(p.name for p in uploads.rglob("*"))
    assert after == before


def expect(response: httpx.Response, status: int, error_type: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "detail"}
    if error_type:
        assert body["error"]["type"] == error_type, body
    return body["error"]


def png_bytes(size: tuple[int, int] = (64, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG")
    return buffer.getvalue()


def test_json_bodies(unchanged: httpx.Client) -> None:
    c = unchanged
    expect(c.post("/v1/search", json={"query": "x" * 20_000}), 413, "payload_too_large")
    expect(
        c.post("/v1/search", json={"query": "lamp", "top_k": LIMITS["max_top_k"] + 1}), 422, "limit_exceeded"
    )
    expect(c.post("/v1/search", json={"query": "lamp", "top_k": 101}), 422, "validation_error")
    expect(c.post("/v1/search", json={"query": "lamp", "top_k": 0}), 422, "validation_error")
    expect(c.post("/v1/search", json={"query": "   "}), 422, "validation_error")
    expect(c.post("/v1/search", json={"query": "a\x00b"}), 422, "validation_error")
    expect(c.post("/v1/search", json={"query": "lamp", "extra": 1}), 422, "validation_error")
    expect(c.post("/v1/search", json={"query": "lamp", "filters": {"doc_ids": ["../x"]}}), 422)
    expect(c.post("/v1/search", content=b'"\\ud800"', headers={"content-type": "application/json"}), 422)
    expect(
        c.post("/v1/search", content=b'{"query": "\\ud800"}', headers={"content-type": "application/json"}),
        422,
    )
    expect(c.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"}), 422)
    expect(c.post("/v1/search", content=b"query=lamp"), 422)
    too_long = "why " * (LIMITS["max_question_chars"] // 4 + 1)
    error = expect(c.post("/v1/answer", json={"question": too_long}), 422, "limit_exceeded")
    assert error["detail"]["limit"] == LIMITS["max_question_chars"]
    expect(c.post("/v1/answer", json={"question": "When?", "mode": "guess"}), 422)
    expect(c.post("/v1/answer", json={"question": "When?", "mode": "generate"}), 400, "mode_unavailable")
    expect(c.post("/v1/answer", json={"question": "When?", "top_k": 21}), 422, "limit_exceeded")
    expect(c.post("/v1/extract", json={"page_id": "nope"}), 422)
    expect(c.post("/v1/extract", json={"page_id": f"{DOC}:1"}), 404, "not_found")
    expect(c.post("/v1/extract", json={"page_id": f"{DOC}:1", "task": "locate"}), 400)
    expect(c.get("/v1/nothing"), 404, "not_found")
    expect(c.put("/v1/search", json={}), 405, "method_not_allowed")


def test_chunked_body_over_the_limit(unchanged: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"query": "'
        for _ in range(40):
            yield b"x" * 1024
        yield b'"}'

    response = unchanged.post("/v1/search", content=chunks(), headers={"content-type": "application/json"})
    expect(response, 413, "payload_too_large")


def test_reads_of_missing_things(unchanged: httpx.Client) -> None:
    c = unchanged
    expect(c.get(f"/v1/documents/{DOC}"), 404, "not_found")
    expect(c.get("/v1/documents/not-a-hash"), 422)
    expect(c.get("/v1/documents", params={"limit": 0}), 422)
    expect(c.get("/v1/documents", params={"status": "weird"}), 422)
    expect(c.get(f"/v1/pages/{DOC}:1/image"), 404, "not_found")
    expect(c.get(f"/v1/pages/{DOC}:0/image"), 422)
    expect(c.get(f"/v1/pages/{DOC}:1/image", params={"mode": "huge"}), 422)
    expect(c.get("/v1/jobs/" + "f" * 32), 404, "not_found")
    expect(c.get("/v1/jobs/../../etc"), 404)
    expect(c.delete(f"/v1/documents/{DOC}"), 404, "not_found")


def test_uploads(unchanged: httpx.Client, tmp_path: Path) -> None:
    c = unchanged
    good = make_pdf(tmp_path / "ok.pdf", ["fine"]).read_bytes()

    def send(*files: tuple[str, bytes]) -> httpx.Response:
        return c.post("/v1/documents", files=[("files", f) for f in files])

    error = expect(
        send(("big.pdf", good + b"\n%" + b"x" * LIMITS["max_upload_bytes"])), 413, "payload_too_large"
    )
    assert error["detail"]["filename"] == "big.pdf"
    expect(send(*[(f"{i}.pdf", good) for i in range(LIMITS["max_files_per_request"] + 1)]), 413)
    five = make_pdf(tmp_path / "five.pdf", ["one", "two", "three", "four", "five"]).read_bytes()
    error = expect(send(("five.pdf", five)), 413, "payload_too_large")
    assert error["detail"]["pages"] == 5
    expect(send(("notes.txt", b"just some text")), 415, "unsupported_media_type")
    expect(send(("fake.pdf", b"MZ\x90\x00 an executable")), 415, "unsupported_media_type")
    expect(send(("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50)), 422, "validation_error")
    expect(send(("empty.pdf", b"")), 422, "validation_error")
    expect(send(("tiny.png", png_bytes()[:40])), 422, "validation_error")
    # one bad file refuses the whole request: the good one is not stored either
    expect(send(("ok.pdf", good), ("notes.txt", b"text")), 415)
    expect(c.post("/v1/documents", data={"files": "not a file"}), 422)
    expect(c.post("/v1/documents"), 422)
    total = LIMITS["max_upload_bytes"] * LIMITS["max_files_per_request"] + (1 << 20) + 1
    expect(
        c.post(
            "/v1/documents", content=b"x" * total, headers={"content-type": "multipart/form-data; boundary=b"}
        ),
        413,
        "payload_too_large",
    )

"""Optical forgetting over REST and the SDK (POST /v1/admin/compact, write key), and the read tracking that
`not_read_for` selects by: reads are written in batches, never per request, and a page shown by search is
no longer cold. The real app under uvicorn on loopback, a tiny random DeepSeek-OCR, Milvus Lite."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from api.client import Client, PermissionDeniedError
from api.service.facade import Service
from api.service.read_tracker import ReadTracker
from api.service.runtime import VisionRuntime
from tests.api.conftest import API_KEY, CORPUS, Running, serve, settings_for, wait_job
from tests.conftest import make_pdf

READ_KEY = "read-only-key-0123456789"
DAY = 86400.0


@pytest.fixture
def vision_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("compact")
    settings = settings_for(
        root / "data", api_keys=f"{API_KEY},read:{READ_KEY}", answer_min_confidence=-100.0,
        answer_max_new_tokens=8, read_flush_seconds=3600.0,
    )  # fmt: skip
    with serve(settings, Service(settings, vision=VisionRuntime.tiny())) as running:
        with running.client() as client:
            for name in ("lighthouse.pdf", "bread.pdf"):
                pdf = make_pdf(root / name, CORPUS[name])
                sent = client.post("/v1/documents", files=[("files", (name, pdf.read_bytes()))])
                assert wait_job(client, sent.json()["job_id"])["status"] == "succeeded"
        yield running


def test_compaction_needs_the_write_key_and_runs_through_rest_and_sdk(vision_server: Running) -> None:
    body = {"to": "small", "all": True}
    with vision_server.client(READ_KEY) as reader:
        assert reader.post("/v1/admin/compact", json=body).status_code == 403
    sdk = Client(base_url=vision_server.base_url, api_key=READ_KEY, max_retries=0)
    with sdk, pytest.raises(PermissionDeniedError):
        sdk.compact(to="small", all=True, dry_run=True)
    with vision_server.client() as client:
        assert client.post("/v1/admin/compact", json={"to": "small"}).status_code == 400  # no condition
        assert client.post("/v1/admin/compact", json={**body, "not_read_for": "soon"}).status_code == 422
        before = client.get("/v1/status").json()
    with Client(base_url=vision_server.base_url, api_key=API_KEY) as sdk:
        plan = sdk.compact(to="small", all=True, dry_run=True)
        assert plan.dry_run and plan.pages == 3 and plan.bytes_now == before["bytes"]["tokens"]
        done = sdk.compact(to="small", all=True)
    assert (done.compacted, done.failed) == (3, 0) and done.bytes_after < done.bytes_now
    with vision_server.client() as client:
        status = client.get("/v1/status").json()
        answer = client.post("/v1/answer", json={"question": "Who kept the lamp?", "mode": "generate"}).json()
    assert status["by_mode"]["small"]["pages"] == 3 and status["bytes"]["tokens"] == done.bytes_after
    assert answer["mode"] == "generate" and answer["context_tokens"]["vision"] > 0  # decoded from small rows


def test_not_read_for_follows_batched_reads(vision_server: Running) -> None:
    service = vision_server.service
    store = service.store()
    ids = [f"{d.doc_id}:{n}" for d in store.list_docs() for n in (1, 2)]
    pages = {p.page_id: p for p in store.get_pages(ids)}
    bread = next(pid for pid, p in pages.items() if "rye" in p.text)
    lighthouse = sorted(pid for pid, p in pages.items() if "Lighthouse" in p.text or "lamp" in p.text)
    store.reads().record({pid: time.time() - 100 * DAY for pid in pages})  # everything read long ago

    def cold() -> int:
        with vision_server.client() as client:
            plan = client.post(
                "/v1/admin/compact", json={"to": "small", "not_read_for": "30d", "dry_run": True}
            )
        assert plan.status_code == 200, plan.text
        return int(plan.json()["pages"])

    assert cold() == 3
    with vision_server.client() as client:  # search shows the bread page: it is read now
        hits = client.post("/v1/search", json={"query": "rye loaf caraway", "top_k": 1}).json()["results"]
    assert [h["page_id"] for h in hits] == [bread]
    assert store.reads().last_read([bread])[bread] < time.time() - 99 * DAY  # batched: not written yet
    assert cold() == len(lighthouse) == 2  # a compaction writes the waiting reads first


def test_the_tracker_writes_in_batches(vision_server: Running) -> None:
    store = vision_server.service.store()
    page_id = f"{store.list_docs()[0].doc_id}:1"
    ticks = iter([1000.0, 2000.0])
    tracker = ReadTracker(interval_s=3600.0, clock=lambda: next(ticks))
    before = store.reads().last_read([page_id]).get(page_id)
    tracker.touch(store, [page_id])
    assert store.reads().last_read([page_id]).get(page_id) == before  # held back
    assert tracker.flush(store) == 1 and store.reads().last_read([page_id])[page_id] >= 1000.0
    eager = ReadTracker(interval_s=0.0, clock=lambda: 3.0e9)
    eager.touch(store, [page_id])
    assert store.reads().last_read([page_id])[page_id] == 3.0e9  # interval 0: written at once

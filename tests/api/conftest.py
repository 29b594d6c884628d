"""REST fixtures: the real app under uvicorn on a loopback port, Milvus Lite in a temporary data dir."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.rest.app import create_app
from api.service.facade import Service
from api.settings import Settings
from tests.conftest import make_pdf

API_KEY = "test-key-plain-0123456789"
HASHED_KEY = "test-key-hashed-9876543210"  # configured as its sha256 digest only
KEYS = f"{API_KEY},sha256:{hashlib.sha256(HASHED_KEY.encode()).hexdigest()}"

# Small limits, so every limit can be crossed cheaply.
LIMITS = dict(
    max_upload_bytes=300_000,
    max_files_per_request=3,
    max_pages_per_document=4,
    max_body_bytes=16_384,
    max_top_k=20,
    max_question_chars=300,
)

CORPUS = {
    "lighthouse.pdf": [
        "The Harbour Lighthouse was built in 1871 on the northern breakwater. Its keeper, Thomas Rowe, "
        "kept the lamp burning through the great storm of 1893, when waves broke over the gallery.",
        "In 1921 the oil lamp was replaced by an electric light visible for twenty nautical miles.",
    ],
    "bread.pdf": [
        "To bake a rye loaf, mix sourdough starter with dark rye flour, water and caraway seeds. "
        "Let the dough rise for twelve hours before baking at two hundred and thirty degrees."
    ],
    "printing.pdf": [
        "Johannes Gutenberg introduced movable metal type in Mainz around 1450, and the printing press "
        "spread across Europe within fifty years."
    ],
}


@dataclass
class Running:
    base_url: str
    settings: Settings
    service: Service
    server: uvicorn.Server

    def client(self, key: str | None = API_KEY, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=120, **kwargs)  # type: ignore[arg-type]


@contextmanager
def serve(settings: Settings, service: Service | None = None) -> Iterator[Running]:
    """The app under uvicorn in a thread, on a free loopback port; stopped (and the index closed) after."""
    service = service or Service(settings)
    app = create_app(settings, service=service)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Running(f"http://127.0.0.1:{port}", settings, service, server)
    finally:
        server.should_exit = True
        thread.join(60)


def settings_for(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(data_dir=data_dir, workers=1, api_keys=KEYS, **LIMITS)
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture(scope="session")
def lite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One lite-profile server for the REST and SDK tests: API keys on, small limits."""
    with serve(settings_for(tmp_path_factory.mktemp("lite") / "data")) as running:
        yield running


@pytest.fixture(scope="session")
def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    return {name: make_pdf(root / name, pages) for name, pages in CORPUS.items()}


@pytest.fixture(scope="session")
def indexed(lite_server: Running, corpus_files: dict[str, Path]) -> dict[str, str]:
    """The corpus uploaded and indexed once: filename -> doc_id."""
    with lite_server.client() as client:
        files = [
            ("files", (name, path.read_bytes(), "application/pdf")) for name, path in corpus_files.items()
        ]
        response = client.post("/v1/documents", files=files)
        assert response.status_code == 202, response.text
        job = wait_job(client, response.json()["job_id"])
        assert job["status"] == "succeeded", job
    return {f["filename"]: f["doc_id"] for f in response.json()["files"]}

"""Scale-out on one Milvus server: sharded `vtrag index build --shard K/N` workers and the API together.

The server is the engine's own gRPC server on loopback (`python -m retriever.lite_server`), the path a Milvus
standalone or cluster takes. Each test writes its own index (VTRAG_COLLECTION) on the module's server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from indexer.sources import discover, in_shard
from retriever.store import IndexStore
from tests.conftest import cli_command, make_pdf
from tests.retriever.helpers import REPO, free_port, lite_server, stop, wait_for_port

API_KEY = "shard-test-key-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with lite_server(tmp_path_factory.mktemp("milvus")) as uri:
        yield uri


@pytest.fixture(scope="module")
def shard_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Twelve one-to-three-page PDFs: file name -> pages."""
    root = tmp_path_factory.mktemp("corpus")
    pages = {}
    for d in range(12):
        n = 1 + d % 3
        name = f"report{d:02d}.pdf"
        make_pdf(root / name, [f"Report {d} page {p}: cargo tally {d * 31 + p} barrels." for p in range(n)])
        pages[name] = n
    return root, pages


def _env(collection: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "VTRAG_COLLECTION": collection,
        **extra,
    }


def start_worker(corpus: Path, uri: str, collection: str, shard: str, *extra: str) -> subprocess.Popen[str]:
    """One `vtrag index build CORPUS --milvus-uri URI --shard K/N --json` process (its own process group)."""
    cmd = cli_command("index", "build", str(corpus), "--milvus-uri", uri, "--shard", shard, "--json", *extra)
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(collection),
        cwd=REPO,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str]) -> list[dict]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def audit(uri: str, collection: str) -> tuple[dict[str, int], dict[str, object]]:
    with IndexStore.open(uri, name=collection) as store:
        return store.audit(), store.stats()


def test_shards_are_disjoint_and_cover_the_corpus(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for d in range(40):  # nested folders: the partition is of discovered absolute paths
        folder = root / f"box{d % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"scan{d}.png").write_bytes(b"")
    everything = [c.path for c in discover([root])]
    assert len(everything) == 40
    for n in (1, 2, 3, 7):
        shards = [{p for p in everything if in_shard(p, (k, n))} for k in range(n)]
        assert sum(len(s) for s in shards) == len(everything)  # disjoint ...
        assert set().union(*shards) == set(everything)  # ... and covering
        if n > 1:
            assert all(shards), f"an empty shard of {n} over 40 files: the hash does not spread"
    # The same tree named another way (relative, trailing slash) is cut the same way.
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        again = [c.path for c in discover([Path("tree/")])]
    finally:
        os.chdir(cwd)
    assert [in_shard(p, (1, 3)) for p in again] == [in_shard(p, (1, 3)) for p in everything]


def test_four_concurrent_shard_workers_create_one_index_without_duplicates(
    server: str, shard_corpus: tuple[Path, dict[str, int]]
) -> None:
    """All four find no index and create it at the same moment (the race), then each indexes its shard."""
    corpus, pages = shard_corpus
    workers = [start_worker(corpus, server, "race4", f"{k}/4") for k in range(4)]
    events = [finish(w) for w in workers]
    taken = [{Path(e["path"]).name for e in evs if e.get("event") == "document"} for evs in events]
    assert sum(len(t) for t in taken) == len(pages) and set().union(*taken) == set(pages)
    counts, stats = audit(server, "race4")
    total = sum(pages.values())
    assert counts["page_rows"] == counts["distinct_pages"] == total  # 0 duplicates
    assert counts["orphan_pages"] == counts["orphan_token_rows"] == 0
    assert (stats["documents"], stats["pages"]) == (len(pages), total)
    # A rerun of any shard finds its documents complete and writes nothing.
    rerun = finish(start_worker(corpus, server, "race4", "2/4"))
    assert {e["status"] for e in rerun if e.get("event") == "document"} <= {"unchanged"}
    assert audit(server, "race4")[0]["page_rows"] == total


def test_a_shard_worker_killed_mid_shard_and_restarted_ends_without_duplicates(
    server: str, tmp_path: Path
) -> None:
    corpus = tmp_path / "big"
    corpus.mkdir()
    total = 0
    for d in range(6):
        n = 4 + d % 3
        make_pdf(corpus / f"ledger{d}.pdf", [f"Ledger {d} page {p}: entry {d * 97 + p}." for p in range(n)])
        total += n
    other = start_worker(corpus, server, "killed", "1/2", "--batch-pages", "2")
    worker = start_worker(corpus, server, "killed", "0/2", "--batch-pages", "2")
    assert worker.stdout is not None
    # Kill on the first batch of pages written: every document has 4-6 pages in batches of 2, so it is
    # mid-document (after a fixed count of lines it could fall between two documents, none left half-done).
    for line in worker.stdout:
        if line.strip() and json.loads(line).get("event") == "pages":
            break
    os.killpg(worker.pid, signal.SIGKILL)
    assert worker.wait(timeout=60) == -signal.SIGKILL  # killed while still working, not after it ended
    finish(other)  # the other shard is not disturbed by its neighbour's death
    status = subprocess.run(
        cli_command("index", "status", "--milvus-uri", server, "--json"),
        capture_output=True, text=True, env=_env("killed"), cwd=REPO, timeout=300,
    )  # fmt: skip
    assert json.loads(status.stdout)["incomplete_documents"] >= 1  # the kill left a document half-written
    finish(start_worker(corpus, server, "killed", "0/2", "--batch-pages", "2"))
    counts, stats = audit(server, "killed")
    assert counts["page_rows"] == counts["distinct_pages"] == total
    assert counts["orphan_pages"] == counts["orphan_token_rows"] == 0
    assert (stats["documents"], stats["pages"]) == (6, total)


def test_the_api_and_a_cli_build_share_the_server(server: str, tmp_path: Path) -> None:
    """`vtrag serve` and `vtrag index build` start together on a fresh index; REST then finds what the CLI
    completed, and what it uploaded itself, with no restart and no lock between them."""
    corpus = tmp_path / "cli-docs"
    corpus.mkdir()
    make_pdf(corpus / "lighthouse.pdf", ["The Harbour Lighthouse was built in 1871 by keeper Thomas Rowe."])
    upload = make_pdf(tmp_path / "bread.pdf", ["To bake a rye loaf, mix sourdough starter with caraway."])
    port = free_port()
    api = subprocess.Popen(
        cli_command("serve", "--host", "127.0.0.1", "--port", str(port), "--milvus-uri", server)
        + ["--data-dir", str(tmp_path / "api-data"), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env("shared", VTRAG_API_KEYS=API_KEY),
        cwd=REPO,
    )
    try:
        build = start_worker(corpus, server, "shared", "0/1")
        assert wait_for_port(port, api, seconds=300), api.stderr.read() if api.poll() is not None else ""
        finish(build)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            # The CLI's document is complete: the very next search (Strong consistency) sees it.
            hits = client.post("/v1/search", json={"query": "lighthouse keeper", "top_k": 3}).json()
            assert hits["results"] and hits["results"][0]["source"].endswith("lighthouse.pdf")
            files = [("files", ("bread.pdf", upload.read_bytes(), "application/pdf"))]
            job_id = client.post("/v1/documents", files=files).json()["job_id"]
            deadline = time.monotonic() + 120
            while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
            assert job["status"] == "succeeded", job
            hits = client.post("/v1/search", json={"query": "rye sourdough", "top_k": 3}).json()
            assert hits["results"][0]["source"] == "bread.pdf"
        # ... and a CLI search, another process on the same server, sees the upload too.
        proc = subprocess.run(
            cli_command("search", "caraway", "--milvus-uri", server, "--top-k", "2", "--json"),
            capture_output=True, text=True, env=_env("shared"), cwd=REPO, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        found = json.loads(proc.stdout.strip().splitlines()[-1])["results"]
        assert found and "caraway" in found[0]["snippet"].lower()
    finally:
        stop(api, seconds=30)

"""`vtrag serve` killed with SIGKILL at the wrong moment, then started again (issue 11, defects 2 and 8):
a delete that began stays done, a half-saved upload leaves nothing behind, jobs are still known."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.api.conftest import wait_job
from tests.api.rest.serve_process import ServeProcess
from tests.conftest import make_pdf

PAGES = 40  # enough rows that a delete takes tens of milliseconds: a window a kill can land in


def upload(client: httpx.Client, path: Path) -> tuple[str, str]:
    sent = client.post("/v1/documents", files=[("files", (path.name, path.read_bytes()))])
    assert sent.status_code == 202, sent.text
    return sent.json()["job_id"], sent.json()["files"][0]["doc_id"]


def settle(server: ServeProcess, tmp: Path, n: int) -> None:
    """Wait until jobs queued at start-up have run: jobs run in order, so a fresh job's end is theirs too."""
    sentinel = make_pdf(tmp / f"sentinel-{n}.pdf", [f"Sentinel number {n} for the job queue."])
    with server.client() as client:
        job_id, _ = upload(client, sentinel)
        assert wait_job(client, job_id, timeout=300)["status"] == "succeeded"


def test_a_delete_cut_by_sigkill_is_finished_at_start_not_undone(tmp_path: Path) -> None:
    """Defect 2: upload, DELETE, SIGKILL during the delete, restart: the document is gone with its upload and
    is never indexed again. The kill moment is searched for (bisection on the delay after sending the DELETE)
    until one lands while the delete runs; every trial must end in a consistent state."""
    data = tmp_path / "data"
    server = ServeProcess(data).start()
    lo, hi, delay = 0.0, 0.4, 0.05
    hit = False
    try:
        for trial in range(8):
            pdf = make_pdf(
                tmp_path / f"doc{trial}.pdf",
                [f"Trial {trial} page {p}: the harbour ledger of arrivals, entry {p}." for p in range(PAGES)],
            )
            with server.client() as client:
                job_id, doc_id = upload(client, pdf)
                assert wait_job(client, job_id, timeout=300)["status"] == "succeeded"
                indexed_at = client.get(f"/v1/documents/{doc_id}").json()["indexed_at"]
            answer: list[int] = []
            thread = threading.Thread(target=_delete_quietly, args=(server, doc_id, answer))
            thread.start()
            time.sleep(delay)
            server.kill()
            thread.join(30)
            server = ServeProcess(data).start()
            settle(server, tmp_path, trial)
            with server.client() as client:
                doc = client.get(f"/v1/documents/{doc_id}")
            left = sorted(p.name for p in (data / "uploads").glob(f"{doc_id}*"))
            if doc.status_code == 200:
                # Only a kill before the delete began may leave the document, and then untouched.
                body = doc.json()
                assert not answer, f"the DELETE answered {answer} but the document is back: {body}"
                assert (body["status"], body["indexed_at"]) == ("complete", indexed_at), body
                lo = delay  # too early
            else:
                assert doc.status_code == 404
                assert left == [], left
                if answer:
                    hi = delay  # too late: the delete had finished
                else:
                    hit = True
                    break
            delay = (lo + hi) / 2
        assert hit, "no kill landed during a delete"
    finally:
        server.kill()


def test_a_half_saved_upload_is_cleaned_at_start(tmp_path: Path) -> None:
    """Defect 8: SIGKILL while an upload is saved leaves `uploads/.incoming/*`; the next start removes it."""
    data = tmp_path / "data"
    incoming = data / "uploads" / ".incoming"
    big = b"%PDF-1.7\n" + bytes(range(256)) * (40 * 2**20 // 256)  # 40 MiB the server copies, then opens
    server = ServeProcess(data).start()
    try:
        caught: list[str] = []
        for _ in range(3):
            thread = threading.Thread(target=_post_quietly, args=(server, big))
            thread.start()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and thread.is_alive():
                if incoming.is_dir() and (caught := [p.name for p in incoming.iterdir()]):
                    server.kill()
                    break
                time.sleep(0.001)
            thread.join(60)
            if caught:
                break
            server.kill()
            server = ServeProcess(data).start()
        assert caught, "never caught an upload being saved"
        server = ServeProcess(data).start()
        assert not any(incoming.iterdir()), sorted(p.name for p in incoming.iterdir())
    finally:
        server.kill()


def _delete_quietly(server: ServeProcess, doc_id: str, answer: list[int]) -> None:
    try:
        with server.client() as client:
            answer.append(client.delete(f"/v1/documents/{doc_id}").status_code)
    except httpx.TransportError:
        pass


def _post_quietly(server: ServeProcess, body: bytes) -> None:
    try:
        with server.client(timeout=120) as client:
            client.post("/v1/documents", files=[("files", ("big.pdf", body))])
    except httpx.TransportError:
        pass


def test_jobs_survive_a_restart(tmp_path: Path) -> None:
    """Defect 8: a finished job, and one cut by SIGKILL while it ran, are still known by id after a restart;
    the cut one runs again under its own id."""
    data = tmp_path / "data"
    small = make_pdf(tmp_path / "small.pdf", ["The lighthouse keeper's log for the winter months."])
    long = make_pdf(
        tmp_path / "long.pdf", [f"Ledger page {p}: cargo of timber and salt." for p in range(PAGES)]
    )
    server = ServeProcess(data).start()
    try:
        with server.client() as client:
            done_id, _ = upload(client, small)
            assert wait_job(client, done_id)["status"] == "succeeded"
            cut_id, long_doc = upload(client, long)
            for _ in range(600):
                if client.get(f"/v1/jobs/{cut_id}").json()["status"] == "running":
                    break
                time.sleep(0.01)
        server.kill()
        server = ServeProcess(data).start()
        with server.client() as client:
            done = client.get(f"/v1/jobs/{done_id}")
            assert done.status_code == 200, done.text
            assert done.json()["status"] == "succeeded" and done.json()["files"][0]["status"] == "indexed"
            cut = wait_job(client, cut_id, timeout=300)
            assert cut["status"] == "succeeded", cut
            assert client.get(f"/v1/documents/{long_doc}").json()["status"] == "complete"
    finally:
        server.kill()

"""Uploads that cannot be indexed (issue 11, defects 3 and 8): checks and rendering agree on a page's size, a
document that fails stays listed as failed with its error, can be deleted, and is not retried at start-up;
a truncated PDF fails instead of being indexed with empty pages; bidi controls leave shown names."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from tests.api.conftest import Running, serve, settings_for, wait_job
from tests.conftest import make_pdf


def user_unit_pdf(path: Path) -> Path:
    """A 4000 pt page with /UserUnit 10: 40000 pt as displayed, 80000 x 80000 px at 144 dpi."""
    doc = pymupdf.open()
    page = doc.new_page(width=4000, height=4000)
    page.insert_text((100, 100), "A page one hundred metres wide.", fontsize=40)
    doc.xref_set_key(page.xref, "UserUnit", "10")
    doc.save(path)
    return path


def truncated_pdf(path: Path) -> Path:
    """Three pages; the file is cut 40 bytes before the end of the last content stream (page 3's), as a
    broken download is."""
    whole = make_pdf(
        path.with_suffix(".whole"),
        [
            "Page one: the harbour lighthouse was built in 1871 on the breakwater.",
            "Page two: the keeper kept the lamp burning through the storm.",
            "Page three: the oil lamp was replaced by an electric light.",
        ],
    ).read_bytes()
    cut = whole.rfind(b"endstream") - 40
    path.write_bytes(whole[:cut])
    return path


def test_a_user_unit_page_is_refused_at_upload(lite_server: Running, tmp_path: Path) -> None:
    """Defect 3: the upload check sees the page as rendering would (UserUnit applied): 422, nothing kept."""
    uploads = Path(lite_server.settings.data_dir) / "uploads"
    before = sorted(p.name for p in uploads.rglob("*") if p.is_file())
    pdf = user_unit_pdf(tmp_path / "huge.pdf").read_bytes()
    with lite_server.client() as client:
        refused = client.post("/v1/documents", files=[("files", ("huge.pdf", pdf))])
    assert refused.status_code == 422, refused.text
    assert "80000 x 80000 px" in refused.json()["error"]["message"]
    assert sorted(p.name for p in uploads.rglob("*") if p.is_file()) == before


def test_a_failed_upload_stays_listed_is_not_retried_and_can_be_deleted(tmp_path: Path) -> None:
    """Defects 3 and 8: a truncated PDF passes the upload checks and fails indexing (page 3 named); it is
    listed as failed with its error, a restart leaves it alone, and DELETE removes it with its files."""
    data = tmp_path / "data"
    pdf = truncated_pdf(tmp_path / "cut.pdf").read_bytes()
    with serve(settings_for(data)) as running, running.client() as client:
        sent = client.post("/v1/documents", files=[("files", ("cut.pdf", pdf))])
        assert sent.status_code == 202, sent.text
        doc_id = sent.json()["files"][0]["doc_id"]
        job = wait_job(client, sent.json()["job_id"])
        assert job["status"] == "failed" and "page 3" in job["files"][0]["error"], job
        doc = client.get(f"/v1/documents/{doc_id}")
        assert doc.status_code == 200, doc.text
        failed = doc.json()
        assert failed["status"] == "failed" and "page 3" in failed["error"], failed
        listed = client.get("/v1/documents", params={"status": "failed"}).json()["documents"]
        assert [d["doc_id"] for d in listed] == [doc_id]
        assert client.post("/v1/search", json={"query": "harbour lighthouse"}).json()["results"] == []
    with serve(settings_for(data)) as running, running.client() as client:
        other = make_pdf(tmp_path / "other.pdf", ["A sentinel page about the ferry timetable."])
        sent = client.post("/v1/documents", files=[("files", ("other.pdf", other.read_bytes()))])
        assert wait_job(client, sent.json()["job_id"])["status"] == "succeeded"  # start-up jobs ran first
        assert client.get(f"/v1/documents/{doc_id}").json() == failed  # not retried
        assert client.delete(f"/v1/documents/{doc_id}").json() == {"deleted": [doc_id]}
        assert client.get(f"/v1/documents/{doc_id}").status_code == 404
    assert not list((data / "uploads").glob(f"{doc_id}*"))


def test_bidi_controls_are_stripped_from_shown_names(lite_server: Running, tmp_path: Path) -> None:
    """Defect 8: a right-to-left override cannot make `invoice‮fdp.exe` look like `invoiceexe.pdf`."""
    pdf = make_pdf(tmp_path / "b.pdf", ["Bidi test: the quay's crane lifted eleven crates."]).read_bytes()
    with lite_server.client() as client:
        sent = client.post("/v1/documents", files=[("files", ("invoice\u202efdp.exe\u2066.pdf", pdf))])
        assert sent.status_code == 202, sent.text
        assert sent.json()["files"][0]["filename"] == "invoicefdp.exe.pdf"
        wait_job(client, sent.json()["job_id"])
        doc = client.get(f"/v1/documents/{sent.json()['files'][0]['doc_id']}").json()
        assert doc["filename"] == doc["source"] == "invoicefdp.exe.pdf"

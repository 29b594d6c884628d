"""A full disk under the uploads (issue 11, defect 8): a 507 that says so, not a bare 500, and /readyz reports
it. The server runs in a user + mount namespace over a 2 MiB tmpfs mounted on its uploads dir."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.api.cli.test_cli_hardening import needs_tmpfs
from tests.api.rest.serve_process import ServeProcess


@needs_tmpfs
def test_a_full_disk_is_a_507_and_not_ready(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "uploads").mkdir(parents=True)
    server = ServeProcess(data, env={"VTRAG_MIN_FREE_BYTES": str(64 * 1024)})
    serve = " ".join(shlex.quote(a) for a in server.argv())
    mount = f"mount -t tmpfs -o size=2m tmpfs {shlex.quote(str(data / 'uploads'))}"
    server.start(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", f"{mount} && exec {serve}"])
    try:
        with server.client() as client:
            assert client.get("/readyz").status_code == 200
            big = b"%PDF-1.7\n" + b"0" * (3 * 2**20)  # more than the tmpfs holds
            refused = client.post("/v1/documents", files=[("files", ("big.pdf", big))])
            assert refused.status_code == 507, refused.text
            error = refused.json()["error"]
            assert error["type"] == "insufficient_storage" and "space" in error["message"], error
            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert "space" in ready.json()["error"]["detail"]["disk"], ready.json()
            incoming = data / "uploads" / ".incoming"  # the tmpfs is private to the server's namespace
            listing = client.get("/v1/documents").json()
            assert listing["total"] == 0
        assert "Traceback" not in server.output()
    finally:
        server.kill()
    assert not incoming.exists() or not any(incoming.iterdir())


def test_folders_not_made_yet_are_measured_where_they_will_be(tmp_path: Path) -> None:
    """A server whose index is on a Milvus server has no data dir until it writes one: /readyz measured
    nothing and reported 0 bytes free. The nearest existing parent is the file system it will be on."""
    from api.rest.disk import DiskWatch

    missing = tmp_path / "not" / "made" / "yet"
    watch = DiskWatch([missing], min_free=1)
    assert watch.free() > 0
    assert watch.check() == "ok"
    assert not missing.exists()  # measuring creates nothing

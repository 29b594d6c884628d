"""The gate in front of the app (issue 11, defects 1, 6 and 7): a key and its scope are checked before any
body byte is read, uploads at once are capped, a wrong key is refused even where reads are public, the docs
routes follow a setting, and links never come from the Host header."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from api.settings import Settings
from tests.api.conftest import API_KEY, LIMITS, Running, serve, wait_job
from tests.conftest import make_pdf

READ_KEY = "read-only-key-0123456789"
WRITE_KEY = "write-key-0123456789abc"
HASHED_READ_KEY = "hashed-read-key-0123456789"  # configured as read:sha256:<hex>
SCOPED_KEYS = ",".join(
    [
        f"read:{READ_KEY}",
        f"write:{WRITE_KEY}",
        API_KEY,  # no scope prefix: a full key (read + write), as before scopes existed
        f"read:sha256:{hashlib.sha256(HASHED_READ_KEY.encode()).hexdigest()}",
    ]
)
DECLARED = 1_500_000  # an upload body under the test server's upload limit, of which no byte is ever sent


def scoped(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(data_dir=data_dir, workers=1, api_keys=SCOPED_KEYS, **LIMITS)
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def open_upload(base_url: str, key: str | None, length: int = DECLARED) -> socket.socket:
    """Send the head of a multipart upload declaring `length` body bytes, and not one byte of the body."""
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (
        "POST /v1/documents HTTP/1.1\r\n"
        f"Host: {parts.hostname}:{parts.port}\r\n"
        f"{auth}"
        "Content-Type: multipart/form-data; boundary=xyzzy\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def response_head(sock: socket.socket, wait: float = 5.0) -> tuple[int, str]:
    """The status and raw head of the answer that arrives within `wait` seconds (AssertionError if none)."""
    sock.settimeout(wait)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        pass
    if not data:
        raise AssertionError(f"no answer within {wait} s: the server is waiting for the body")
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return int(head.split()[1]), head.lower()


def test_access_is_checked_before_any_body_byte(tmp_path: Path) -> None:
    """Defect 1: an anonymous, wrong-key or read-only upload is answered before the body is sent."""
    with serve(scoped(tmp_path / "data")) as running:
        for key, status in [(None, 401), ("not-a-key-0123456789", 403), (READ_KEY, 403)]:
            sock = open_upload(running.base_url, key)
            try:
                got, head = response_head(sock)
            finally:
                sock.close()
            assert got == status, (key, head)
            if status == 401:
                assert "www-authenticate: bearer" in head
        # Declared over the limit: a 413 before any byte, for a full key too.
        sock = open_upload(running.base_url, API_KEY, length=10 * 2**30)
        try:
            assert response_head(sock)[0] == 413
        finally:
            sock.close()
        incoming = tmp_path / "data" / "uploads" / ".incoming"
        assert not incoming.exists() or not any(incoming.iterdir())


def test_concurrent_uploads_are_capped(tmp_path: Path) -> None:
    """Defect 1: more uploads at once than `max_concurrent_uploads` get a 429 with Retry-After at once."""
    pdf = make_pdf(tmp_path / "ok.pdf", ["Cap test: tide tables for the harbour pilots."]).read_bytes()
    with serve(scoped(tmp_path / "data", max_concurrent_uploads=2)) as running:
        held = [open_upload(running.base_url, API_KEY) for _ in range(2)]
        try:
            time.sleep(0.5)  # both are in the app, waiting for their bodies
            third = open_upload(running.base_url, API_KEY)
            try:
                status, head = response_head(third)
            finally:
                third.close()
            assert status == 429 and "retry-after:" in head
        finally:
            for sock in held:
                sock.close()
        with running.client() as client:  # the slots come back when the held requests end
            for _ in range(50):
                sent = client.post("/v1/documents", files=[("files", ("ok.pdf", pdf))])
                if sent.status_code != 429:
                    break
                time.sleep(0.1)
            assert sent.status_code == 202, sent.text
            assert wait_job(client, sent.json()["job_id"])["status"] == "succeeded"


def test_key_scopes_and_wrong_keys_with_public_reads(tmp_path: Path) -> None:
    """Defect 7: read keys only read; write and unprefixed keys do both; a wrong key is a 403 even where reads
    are public; the docs routes need read access like any read."""
    pdf = make_pdf(
        tmp_path / "s.pdf", ["Scope test: a ledger of ships that arrived at the quay."]
    ).read_bytes()
    with serve(scoped(tmp_path / "data", public_reads=True)) as running:

        def call(key: str | None, method: str, path: str, **kwargs: object) -> httpx.Response:
            with running.client(key=key) as client:
                return client.request(method, path, **kwargs)  # type: ignore[arg-type]

        upload = {"files": [("files", ("s.pdf", pdf))]}
        for key in (READ_KEY, HASHED_READ_KEY):
            assert call(key, "POST", "/v1/search", json={"query": "ledger"}).status_code == 200
            refused = call(key, "POST", "/v1/documents", **upload)
            assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_denied"
            assert call(key, "DELETE", f"/v1/documents/{'0' * 64}").status_code == 403
        sent = call(WRITE_KEY, "POST", "/v1/documents", **upload)
        assert sent.status_code == 202, sent.text
        with running.client(key=WRITE_KEY) as client:  # a write key reads its own jobs back
            assert wait_job(client, sent.json()["job_id"])["status"] == "succeeded"
        doc_id = sent.json()["files"][0]["doc_id"]
        assert call(API_KEY, "GET", f"/v1/documents/{doc_id}").status_code == 200
        # Public reads: no key is fine, a wrong key never is.
        assert call(None, "POST", "/v1/search", json={"query": "ledger"}).status_code == 200
        wrong = call("wrong-key-0123456789", "POST", "/v1/search", json={"query": "ledger"})
        assert wrong.status_code == 403 and wrong.json()["error"]["type"] == "permission_denied"
        assert call(None, "POST", "/v1/documents", **upload).status_code == 401
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert call(None, "GET", path).status_code == 200, path  # reads are public here
            assert call("wrong-key-0123456789", "GET", path).status_code == 403, path
        assert call(API_KEY, "DELETE", f"/v1/documents/{doc_id}").status_code == 200


@pytest.mark.parametrize(
    ("docs_access", "anonymous", "with_key"), [("read", 401, 200), ("open", 200, 200), ("off", 401, 404)]
)
def test_docs_routes_follow_the_setting(
    tmp_path: Path, docs_access: str, anonymous: int, with_key: int
) -> None:
    """Defect 7: /docs, /redoc and /openapi.json are read routes by default, or open, or off (then they are
    unknown paths: a 404 for a reader, a 401 for a client without access, as for any unknown path)."""
    settings = scoped(tmp_path / "data", docs_access=docs_access)
    with (
        serve(settings) as running,
        running.client(key=None) as client,
        running.client(key=READ_KEY) as reader,
    ):
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == anonymous, path
            assert reader.get(path).status_code == with_key, path
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_the_web_page_and_its_assets_need_no_key(tmp_path: Path) -> None:
    """The web page (api/web) holds no data: it and its assets load without a key, so a browser can show the
    page that then asks for one; what it calls under /v1 still needs the key. The assets are public files: a
    name that is not one of them is a plain 404."""
    with serve(scoped(tmp_path / "data")) as running, running.client(key=None) as client:
        page = client.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        for asset in ("/web/api.js", "/web/main.js", "/web/style.css"):
            assert client.get(asset).status_code == 200, asset
        assert client.get("/web/no-such-file.js").status_code == 404
        assert client.get("/v1/status").status_code == 401


def test_image_url_never_comes_from_the_host_header(lite_server: Running, indexed: dict[str, str]) -> None:
    """Defect 6: a forged Host header does not make links point elsewhere; links are relative by default."""
    with lite_server.client() as client:
        hits = client.post(
            "/v1/search",
            json={"query": "lighthouse keeper", "top_k": 3},
            headers={"Host": "evil.example:666"},
        ).json()["results"]
        assert hits
        for hit in hits:
            assert "evil" not in hit["image_url"]
            assert hit["image_url"] == f"/v1/pages/{hit['page_id']}/image"
        assert client.get(hits[0]["image_url"]).headers["content-type"] == "image/png"


def test_image_url_uses_the_public_base_url(tmp_path: Path) -> None:
    """Defect 6: with `public_base_url` set, links are absolute on it, whatever the Host header says."""
    settings = scoped(tmp_path / "data", public_base_url="https://vtrag.example.org/base/")
    pdf = make_pdf(tmp_path / "b.pdf", ["Base URL test: the ferry timetable for the island."]).read_bytes()
    with serve(settings) as running, running.client() as client:
        sent = client.post("/v1/documents", files=[("files", ("b.pdf", pdf))])
        assert wait_job(client, sent.json()["job_id"])["status"] == "succeeded"
        hit = client.post(
            "/v1/search", json={"query": "ferry timetable"}, headers={"Host": "evil.example:666"}
        ).json()["results"][0]
        assert hit["image_url"] == f"https://vtrag.example.org/base/v1/pages/{hit['page_id']}/image"

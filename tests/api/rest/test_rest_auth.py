"""API keys: 401 without one, 403 with a wrong one; plain and sha256-configured keys; the no-key defaults."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.rest.auth import check_access, key_scopes
from api.rest.errors import ApiError
from api.settings import Settings
from tests.api.conftest import API_KEY, HASHED_KEY, Running, serve
from tests.conftest import make_pdf

DOC = "0" * 64


def test_missing_and_wrong_keys(lite_server: Running, indexed: dict[str, str], tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "a.pdf", ["auth test"]).read_bytes()
    upload = {"files": [("files", ("a.pdf", pdf))]}
    with lite_server.client() as client:
        before = client.get("/v1/status").json()
    with lite_server.client(key=None) as anonymous:
        for method, path, kwargs in [
            ("POST", "/v1/search", {"json": {"query": "lamp"}}),
            ("POST", "/v1/answer", {"json": {"question": "When?"}}),
            ("GET", "/v1/documents", {}),
            ("GET", "/v1/status", {}),
            ("POST", "/v1/documents", upload),
            ("DELETE", f"/v1/documents/{indexed['bread.pdf']}", {}),
        ]:
            missing = anonymous.request(method, path, **kwargs)
            assert missing.status_code == 401, (path, missing.text)
            assert missing.json()["error"]["type"] == "authentication_error"
            assert missing.headers["www-authenticate"] == "Bearer"
            wrong = anonymous.request(
                method, path, headers={"Authorization": "Bearer not-the-key-123456"}, **kwargs
            )
            assert wrong.status_code == 403 and wrong.json()["error"]["type"] == "permission_denied"
            basic = anonymous.request(method, path, headers={"Authorization": f"Basic {API_KEY}"}, **kwargs)
            assert basic.status_code == 401
        assert anonymous.get("/healthz").status_code == 200  # probes need no key
        assert anonymous.get("/metrics").status_code == 200
    with lite_server.client(key=HASHED_KEY) as hashed:  # a key configured only as its sha256 digest
        assert hashed.post("/v1/search", json={"query": "lamp"}).status_code == 200
        assert hashed.get("/v1/status").json() == before


def test_no_keys_configured_reads_open_writes_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", workers=1)
    with serve(settings) as running, running.client(key=None) as client:
        assert client.post("/v1/search", json={"query": "anything"}).json() == {"results": []}
        refused = client.post("/v1/documents", files=[("files", ("a.pdf", b"%PDF-1.4"))])
        assert refused.status_code == 403 and "VTRAG_API_KEYS" in refused.json()["error"]["message"]
        assert client.delete(f"/v1/documents/{DOC}").status_code == 403
        assert client.get("/v1/status").json()["documents"] == 0
    assert not (tmp_path / "data" / "uploads").exists() or not any((tmp_path / "data" / "uploads").iterdir())


def test_access_rules() -> None:
    full = frozenset({"read", "write"})
    keys = (
        (hashlib.sha256(b"k" * 16).digest(), full),
        (hashlib.sha256(b"r" * 16).digest(), frozenset({"read"})),
    )
    allow = dict(keys=keys, public_reads=False, allow_unauthenticated_writes=False)
    check_access("read", "Bearer " + "k" * 16, **allow)
    check_access("write", "bearer   " + "k" * 16, **allow)
    for access in ("read", "write"):
        with pytest.raises(ApiError) as missing:
            check_access(access, None, **allow)  # type: ignore[arg-type]
        assert missing.value.status == 401
        with pytest.raises(ApiError) as wrong:
            check_access(access, "Bearer " + "k" * 15, **allow)  # type: ignore[arg-type]
        assert wrong.value.status == 403
    check_access("read", None, **{**allow, "public_reads": True})
    with pytest.raises(ApiError):
        check_access("write", None, **{**allow, "public_reads": True})
    with pytest.raises(ApiError) as wrong_public:  # a key that is sent must be valid, public reads or not
        check_access("read", "Bearer " + "k" * 15, **{**allow, "public_reads": True})
    assert wrong_public.value.status == 403
    check_access("read", "Bearer " + "r" * 16, **allow)
    with pytest.raises(ApiError) as read_only:
        check_access("write", "Bearer " + "r" * 16, **allow)
    assert read_only.value.status == 403
    none = dict(keys=(), public_reads=False, allow_unauthenticated_writes=False)
    check_access("read", None, **none)
    with pytest.raises(ApiError) as refused:
        check_access("write", "Bearer anything", **none)
    assert refused.value.status == 403
    check_access("write", None, **{**none, "allow_unauthenticated_writes": True})
    assert key_scopes("k" * 16, keys) == full and key_scopes("r" * 16, keys) == {"read"}
    assert key_scopes("k" * 17, keys) is None


def test_settings_refuse_unsafe_values() -> None:
    for bad in (
        {"api_keys": "short"},
        {"api_keys": "has space in the key 123"},
        {"api_keys": "sha256:abc"},
        {"api_keys": "read:short"},
        {"api_keys": "write:sha256:abc"},
        {"public_base_url": "ftp://x.org"},
        {"public_base_url": "https://user@x.org"},
        {"docs_access": "public"},
        {"allow_unauthenticated_writes": True, "host": "0.0.0.0"},
        {"max_upload_bytes": 0},
        {"max_top_k": 1000},
        {"answer_min_confidence": 1.0},
        {"fallback_mode": "huge"},
    ):
        with pytest.raises(ValidationError):
            Settings(**bad)  # type: ignore[arg-type]
    keys = Settings(api_keys=f" {'a' * 16} , sha256:{'B' * 64} , read:{'c' * 16}, write:sha256:{'d' * 64}")
    full, read = frozenset({"read", "write"}), frozenset({"read"})
    assert keys.api_key_entries() == (
        (hashlib.sha256(b"a" * 16).digest(), full),
        (bytes.fromhex("b" * 64), full),
        (hashlib.sha256(b"c" * 16).digest(), read),
        (bytes.fromhex("d" * 64), full),
    )
    assert "a" * 16 not in repr(keys)
    assert Settings(allow_unauthenticated_writes=True, host="::1").allow_unauthenticated_writes

"""The SDK stands alone: `api.client` imports, and answers a call, with the standard library, httpx and
pydantic (and what they import) only — nothing else of vtrag, no torch.

A fresh interpreter runs with an import guard in front of every finder: any vtrag module outside `api.client`
and any third-party module outside httpx's and pydantic's own dependencies raises ImportError there, and
only the optional imports httpx and pydantic make (and survive) may be refused.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

GUARD = r"""
import importlib.abc
import sys

VTRAG = {"api", "indexer", "retriever", "encoder", "decoder", "evaluation", "bench", "tests"}
THIRD_PARTY = {  # httpx, pydantic and what they import
    "httpx", "httpcore", "h11", "anyio", "sniffio", "idna", "certifi",
    "pydantic", "pydantic_core", "typing_extensions", "annotated_types", "typing_inspection",
}
refused = []


class Guard(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if name in ("api", "api.client") or name.startswith("api.client."):
            return None
        stdlib = top in sys.stdlib_module_names or top.startswith("_sysconfigdata")
        if top not in VTRAG and (stdlib or top in THIRD_PARTY):
            return None
        refused.append(name)
        raise ImportError(f"the SDK may not import {name}")


sys.meta_path.insert(0, Guard())
"""

CALL = r"""
import httpx
from api.client import Client
from api.client.schemas import SearchResponse

hit = {"doc_id": "d" * 64, "source": "a.pdf", "page": 1, "page_id": "d" * 64 + ":1", "score": 1.0,
       "snippet": "s", "image_url": "http://x/v1/pages/p/image"}
transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"results": [hit]}))
with Client(base_url="http://sdk.test", http_client=httpx.Client(transport=transport)) as client:
    found = client.search(query="q")
assert isinstance(found, SearchResponse) and found.results[0].image_url.endswith("/image")
vtrag = sorted(m for m in sys.modules if m.partition(".")[0] in VTRAG)
print("loaded:", ",".join(vtrag))
print("refused:", ",".join(sorted(set(refused))))
"""
# What httpx and pydantic try to import and do without (compression codecs, a CLI, a Jython probe).
OPTIONAL = {"brotli", "brotlicffi", "zstandard", "click", "org"}


def run_guarded(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", GUARD + code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_the_sdk_imports_and_calls_with_httpx_and_pydantic_only() -> None:
    proc = run_guarded("import api.client\n" + CALL)
    assert proc.returncode == 0, proc.stderr
    loaded, refused = (line.partition(": ")[2] for line in proc.stdout.splitlines())
    assert all(m in ("api", "api.client") or m.startswith("api.client.") for m in loaded.split(",")), loaded
    assert set(refused.split(",")) - {""} <= OPTIONAL, refused


@pytest.mark.parametrize("heavy", ["torch", "api.service", "retriever.records", "numpy"])
def test_the_guard_would_catch_a_heavy_import(heavy: str) -> None:
    proc = run_guarded(f"import api.client\nimport {heavy}\n")
    assert proc.returncode != 0 and f"the SDK may not import {heavy.partition('.')[0]}" in proc.stderr

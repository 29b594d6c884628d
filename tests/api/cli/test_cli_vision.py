"""The vision profile through the real CLI: build with an encoder, stored tokens, extract, similar pages.

The weights are a tiny random DeepSeek-OCR v1 written in the official checkpoint layout, so every step
(loading, encoding, storing, decoding) runs for real on a CPU; only the answers are meaningless."""

from __future__ import annotations

import json
from pathlib import Path

from indexer.build_state import default_write_threads
from retriever.store import IndexStore
from tests.conftest import cli_json, run_cli


def vision_args(weights: Path) -> tuple[str, ...]:
    return ("--encoder", "deepseek-ocr", "--weights", str(weights), "--device", "cpu")


def test_build_with_an_encoder_stores_tokens_and_decodes_from_them(
    corpus: Path, tiny_weights: Path, tmp_path: Path
) -> None:
    data = tmp_path / "index"
    proc = run_cli(
        "index", "build", str(corpus), "--data-dir", str(data), "--json", *vision_args(tiny_weights),
        env={"VTRAG_WRITE_PROCESSES": "2"},  # the GPU default's token-writer processes, on the CPU
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "done" and events[-1]["token_writer_processes"] == 2
    assert events[-1]["write_threads"] == default_write_threads(vision=True)  # VTRAG_WRITE_THREADS unset
    lighthouse = next(e for e in events if e["event"] == "document" and e["path"].endswith("lighthouse.pdf"))

    status = cli_json("index", "status", "--data-dir", str(data))
    assert status["pages"] == 4 and status["config"]["encoder"] == "deepseek-ocr"
    with IndexStore.open(str(data / "milvus.db")) as store:
        page = store.get_pages([f"{lighthouse['doc_id']}:1"], with_vectors=True)[0]
        rows = store.get_tokens([page.page_id])[page.page_id]
        audit = store.audit()
    assert rows.shape[0] == page.n_tokens and rows.shape[1] == 64  # tiny hidden size
    assert status["bytes"]["tokens"] > 0
    assert audit["orphan_token_rows"] == 0 and audit["page_rows"] == 4

    # Search runs all three legs (BM25, dense text, the query typeset and encoded) and still finds the page.
    vision_env = {
        "VTRAG_ENCODER": "deepseek-ocr",
        "VTRAG_WEIGHTS_DIR": str(tiny_weights),
        "VTRAG_DEVICE": "cpu",
    }
    found = cli_json("search", "keeper storm lamp", "--data-dir", str(data), env=vision_env)
    assert Path(found["results"][0]["source"]).name == "lighthouse.pdf"

    # Ask takes the REST pipeline: generate from stored tokens, judged; a random tiny model's answer cannot
    # stand (guard, confidence), so the full-OCR fallback answers, and says so.
    asked = cli_json("ask", "When was the Harbour Lighthouse built?", "--data-dir", str(data), env=vision_env)
    assert asked["mode"] in ("generate", "ocr-fallback")
    if asked["mode"] == "ocr-fallback":
        assert asked["fallback"]["ran"] and asked["fallback"]["reason"]
        assert "1871" in asked["answer"]
    assert asked["context_tokens"]["vision"] > 0 or asked["fallback"]["ran"]

    like = cli_json("similar", "--page", page.page_id, "--data-dir", str(data))
    assert like["results"][0]["page_id"] == page.page_id  # a page is most like itself

    out = cli_json(
        "extract",
        page.page_id,
        "--task",
        "free_ocr",
        "--max-new-tokens",
        "4",
        "--data-dir",
        str(data),
        *vision_args(tiny_weights),
    )
    assert out["vision_tokens"] == page.n_tokens and isinstance(out["text"], str)


def test_a_lite_build_into_a_vision_index_is_refused(
    corpus: Path, tiny_weights: Path, tmp_path: Path
) -> None:
    data = tmp_path / "index"
    run_cli(
        "index",
        "build",
        str(corpus / "bread.pdf"),
        "--data-dir",
        str(data),
        *vision_args(tiny_weights),
        check=True,
    )
    proc = run_cli("index", "build", str(corpus / "printing.pdf"), "--data-dir", str(data))
    assert proc.returncode == 3 and "--recreate" in proc.stderr


def test_missing_weights_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "index",
        "build",
        str(corpus),
        "--data-dir",
        str(tmp_path / "i"),
        "--encoder",
        "deepseek-ocr",
        "--weights",
        str(tmp_path / "nowhere"),
    )
    assert proc.returncode == 2
    assert "weights not found" in proc.stderr and "VTRAG_WEIGHTS_DIR" in proc.stderr
    assert "Traceback" not in proc.stderr

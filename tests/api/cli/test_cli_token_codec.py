"""`vtrag index build --token-codec`: recorded with the index, used for its stored rows, a later build with
another codec refused, a bad name a clear error that creates nothing."""

from __future__ import annotations

from pathlib import Path

from retriever.store import IndexStore
from retriever.token_quant import SCALE_BYTES
from tests.conftest import cli_json, run_cli

TINY_HIDDEN = 64


def test_int8_codec_is_recorded_stored_and_a_mismatch_refused(
    corpus: Path, tiny_weights: Path, tmp_path: Path
) -> None:
    data = tmp_path / "index"
    vision = ("--encoder", "deepseek-ocr", "--weights", str(tiny_weights), "--device", "cpu")
    lighthouse = str(corpus / "lighthouse.pdf")
    cli_json("index", "build", lighthouse, "--data-dir", str(data), "--token-codec", "int8", *vision)
    status = cli_json("index", "status", "--data-dir", str(data))
    assert status["config"]["token_codec"] == "int8"
    with IndexStore.open(str(data / "milvus.db")) as store:
        [doc] = store.list_docs()
        pages = store.get_pages([f"{doc.doc_id}:{n}" for n in range(1, doc.pages + 1)])
        tokens = store.get_tokens([p.page_id for p in pages])
    assert all(tokens[p.page_id].shape == (p.n_tokens, TINY_HIDDEN) for p in pages)
    # A float32 scale and one byte per value for each row: half of bf16's bytes and a bit.
    assert status["bytes"]["tokens"] == sum(p.n_tokens * (SCALE_BYTES + TINY_HIDDEN) for p in pages)
    assert list(status["by_codec"]) == ["int8"] and status["by_codec"]["int8"]["pages"] == len(pages)

    refused = run_cli("index", "build", str(corpus), "--data-dir", str(data), *vision)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "token_codec=int8" in refused.stderr and "--recreate" in refused.stderr
    assert cli_json("index", "status", "--data-dir", str(data)) == status


def test_an_unknown_token_codec_is_a_clear_error_that_creates_nothing(corpus: Path, tmp_path: Path) -> None:
    proc = run_cli("index", "build", str(corpus), "--data-dir", str(tmp_path / "x"), "--token-codec", "int4")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "unknown token codec 'int4'; choose one of lossless, int8, fp8-e4m3" in proc.stderr
    assert not (tmp_path / "x" / "milvus.db").exists()

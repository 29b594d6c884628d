"""`VTRAG_TEXT_MODEL_DIR`: page and query vectors from a local MiniLM copy instead of the bundled one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from encoder.text_embedder import TextEmbedder, bundled_model_dir
from retriever.store import IndexStore
from tests.conftest import cli_json, run_cli


@pytest.fixture(scope="module")
def other_minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MiniLM-shaped model (384 wide, one layer) with random weights and the bundled tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("minilm")
    bundled = bundled_model_dir()
    shutil.copy(bundled / "tokenizer.json", folder / "tokenizer.json")
    config = BertConfig(**{**json.loads((bundled / "config.json").read_text()), "num_hidden_layers": 1})
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(folder))
    return folder


def page_vector(data: Path) -> tuple[str, np.ndarray]:
    with IndexStore.open(str(data / "milvus.db")) as store:
        doc = store.list_docs()[0]
        page = store.get_pages([f"{doc.doc_id}:1"], with_vectors=True)[0]
        assert page.text_vec is not None
        return page.text, np.asarray(page.text_vec, dtype=np.float32)


def test_a_build_and_its_searches_use_the_named_model(
    corpus: Path, tmp_path: Path, other_minilm: Path
) -> None:
    env = {"VTRAG_TEXT_MODEL_DIR": str(other_minilm), "VTRAG_TEXT_BACKEND": "torch"}
    data = tmp_path / "index"
    pdf = corpus / "lighthouse.pdf"
    proc = run_cli("index", "build", str(pdf), "--data-dir", str(data), "--json", env=env)
    assert proc.returncode == 0, proc.stderr

    text, stored = page_vector(data)
    ours = TextEmbedder(other_minilm, backend="torch").embed([text])[0]
    bundled = TextEmbedder(backend="torch").embed([text])[0]
    assert float(stored @ ours) > 0.999  # the named model made the stored vector…
    assert abs(float(stored @ bundled)) < 0.5  # …not the bundled one (another space altogether)

    found = cli_json("search", "keeper storm lamp", "--data-dir", str(data), env=env)
    assert Path(found["results"][0]["source"]).name == "lighthouse.pdf"


def test_a_folder_without_the_model_is_a_clear_error_and_stores_nothing(corpus: Path, tmp_path: Path) -> None:
    empty = tmp_path / "no-model"
    empty.mkdir()
    data = tmp_path / "index"
    proc = run_cli(
        "index", "build", str(corpus / "lighthouse.pdf"), "--data-dir", str(data),
        env={"VTRAG_TEXT_MODEL_DIR": str(empty)},
    )  # fmt: skip
    assert proc.returncode != 0
    assert "text embedding model not found" in proc.stderr and str(empty) in proc.stderr
    assert "VTRAG_TEXT_MODEL_DIR" in proc.stderr
    assert "Traceback" not in proc.stderr
    status = run_cli("index", "status", "--data-dir", str(data), "--json")
    pages = json.loads(status.stdout).get("pages", 0) if status.returncode == 0 else 0
    assert pages == 0

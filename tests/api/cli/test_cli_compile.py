"""`vtrag index build --compile`: the encoder's towers run through torch.compile (inductor) with every batch
padded to the batch size, and the stored rows are those of the eager build (within float rounding)."""

from __future__ import annotations

from pathlib import Path

import torch

from api.cli.common import EXIT_BAD_INPUT
from retriever.store import IndexStore
from tests.api.cli.test_cli_vision import vision_args
from tests.conftest import run_cli


def stored_rows(data: Path) -> dict[str, torch.Tensor]:
    with IndexStore.open(str(data / "milvus.db")) as store:
        page_ids = [
            f"{doc.doc_id}:{n}" for doc in store.list_docs("complete") for n in range(1, doc.pages + 1)
        ]
        return store.get_tokens(page_ids)


def test_a_compiled_build_stores_the_rows_of_an_eager_build(
    corpus: Path, tiny_weights: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "inductor"
    env = {"TORCHINDUCTOR_CACHE_DIR": str(cache)}  # where inductor writes what it compiled
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    for data, flags in ((eager, ()), (compiled, ("--compile",))):
        proc = run_cli(
            "index",
            "build",
            str(corpus),
            "--data-dir",
            str(data),
            *flags,
            *vision_args(tiny_weights),
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        if not flags:
            assert not any(cache.rglob("*.py"))  # the eager build compiled nothing
    assert any(cache.rglob("*.py")), "the --compile build left no inductor kernels"
    reference, ours = stored_rows(eager), stored_rows(compiled)
    assert reference.keys() == ours.keys() and len(ours) == 4  # one batch, short of the CPU's 8 pages
    for page_id, rows in reference.items():
        torch.testing.assert_close(ours[page_id], rows, rtol=1e-4, atol=1e-4)


def test_compile_without_a_v1_encoder_is_refused_before_anything_is_stored(
    corpus: Path, tmp_path: Path
) -> None:
    data = tmp_path / "index"
    proc = run_cli("index", "build", str(corpus), "--data-dir", str(data), "--compile")
    assert proc.returncode == EXIT_BAD_INPUT
    assert "--compile" in proc.stderr and "--encoder deepseek-ocr" in proc.stderr
    assert not (data / "milvus.db").exists()

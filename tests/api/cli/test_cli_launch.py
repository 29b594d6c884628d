"""`vtrag index build --processes N | --gpus …` (issue 19): N shard processes into one index, one summary.

The multi-GPU run itself needs a machine with several GPUs; what runs here is the same launcher with CPU
processes (the children differ only by CUDA_VISIBLE_DEVICES and `--device cuda`), and the refusal on a
machine that has no GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from api.cli.launch import _summary, child_argv
from indexer.sources import in_shard
from retriever.store import IndexStore
from tests.conftest import make_pdf, run_cli


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("launch-corpus")
    pages = 0
    for d in range(7):
        n = 2 + d % 3
        make_pdf(
            root / f"log{d}.pdf",
            [f"Log {d} page {p}: the tide gauge read {d * 31 + p} cm." for p in range(n)],
        )
        pages += n
    return root, pages


def test_n_processes_build_one_index_with_every_page_once(corpus: tuple[Path, int], tmp_path: Path) -> None:
    root, pages = corpus
    data = tmp_path / "data"
    # --device names where every shard runs (with cuda: shards sharing the one GPU, when the host bounds it)
    proc = run_cli(
        "index", "build", str(root), "--data-dir", str(data), "--processes", "3", "--device=cpu", "--json"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    done = [e for e in events if e["event"] == "done"]
    assert len(done) == 1  # the children's own summaries are merged into one
    summary = done[0]
    assert summary["files"] == {"indexed": 7} and summary["pages_written"] == pages
    assert [(s["shard"], s["device"]) for s in summary["shards"]] == [(0, "cpu"), (1, "cpu"), (2, "cpu")]
    assert sum(s["pages_written"] for s in summary["shards"]) == pages
    for event in (e for e in events if e["event"] == "document"):  # each file went to the shard it hashes to
        assert in_shard(Path(event["path"]), (event["shard"], 3)), event
    # The launcher served the data dir's own file and let go of it: later commands open it as usual.
    with IndexStore.open(data / "milvus.db") as store:
        audit, stats = store.audit(), store.stats()
    assert audit["page_rows"] == audit["distinct_pages"] == pages
    assert audit["orphan_pages"] == audit["orphan_token_rows"] == 0
    assert (stats["documents"], stats["pages"]) == (7, pages)
    again = run_cli("index", "build", str(root), "--data-dir", str(data), "--processes", "2", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.splitlines()[-1])["files"] == {"unchanged": 7}
    found = run_cli("search", "tide gauge 95", "--data-dir", str(data), "--json")
    assert found.returncode == 0 and json.loads(found.stdout)["results"], found.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpus_on_a_machine_without_one_is_one_error_line(corpus: tuple[Path, int], tmp_path: Path) -> None:
    proc = run_cli("index", "build", str(corpus[0]), "--data-dir", str(tmp_path / "d"), "--gpus", "all")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --gpus: no CUDA GPU is visible here; on CPUs use --processes N"
    ]
    assert not (tmp_path / "d").exists()  # nothing started, nothing written


def test_launcher_options_that_do_not_go_together(corpus: tuple[Path, int], tmp_path: Path) -> None:
    for extra in (["--shard", "0/2"], ["--recreate"], ["--gpus", "all"]):
        proc = run_cli(
            "index", "build", str(corpus[0]), "--data-dir", str(tmp_path), "--processes", "2", *extra
        )
        assert proc.returncode == 2 and proc.stderr.startswith("error: "), (extra, proc.stderr)


def test_the_summary_names_the_device_the_shards_were_given() -> None:
    done = [{"files": {"indexed": 1}, "skipped": 0, "pages_written": 2, "shard": 0}]
    summary = _summary(done, [0], None, 1.0, "cuda")
    assert summary["shards"][0]["device"] == "cuda"
    assert _summary(done, [0], [3], 1.0, "cpu")["shards"][0]["device"] == "cuda:3"


def test_children_get_the_build_arguments_without_the_launchers() -> None:
    argv = ["docs", "--gpus", "all", "--mode", "small", "--processes=4", "--json"]
    assert child_argv(argv) == ["docs", "--mode", "small", "--json"]

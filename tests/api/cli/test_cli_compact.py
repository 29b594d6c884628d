"""`vtrag index compact` (issue 18, optical forgetting) through the CLI as a subprocess, on a tiny random
DeepSeek-OCR in the official weights layout and Milvus Lite: pages re-encoded in a smaller mode equal the
pixel path bit for bit, the dry run prices it, text-only pages answer from their text, bad requests change
nothing, and a SIGKILL at each of the swap's three stages leaves every page with exactly one version."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from api.service.runtime import VisionRuntime
from encoder.modes import get_mode
from indexer.documents import open_document
from retriever.store import IndexStore
from tests.conftest import cli_command, cli_json, make_pdf, run_cli

REPO = Path(__file__).resolve().parents[3]
PAGES = [f"Ledger page {n}: the schooner Aurora {n} unloaded {n * 40} barrels of tar." for n in range(1, 5)]


def compact(data: Path, *args: str) -> dict:
    return cli_json("index", "compact", *args, "--data-dir", str(data))


def vision_args(weights: Path) -> tuple[str, ...]:
    return ("--encoder", "deepseek-ocr", "--weights", str(weights), "--device", "cpu")


@pytest.fixture
def built(tmp_path: Path, tiny_weights: Path) -> tuple[Path, Path]:
    """A Base index of one 4-page PDF: (data dir, the PDF)."""
    (tmp_path / "docs").mkdir()
    pdf = make_pdf(tmp_path / "docs" / "ledger.pdf", PAGES)
    data = tmp_path / "index"
    cli_json("index", "build", str(pdf), "--data-dir", str(data), *vision_args(tiny_weights))
    return data, pdf


def open_store(data: Path) -> IndexStore:
    return IndexStore.open(str(data / "milvus.db"))


def stored(data: Path) -> tuple[dict[str, torch.Tensor], dict[str, str], dict[str, int]]:
    """(page_id → tokens, page_id → mode, the audit) as the index holds them now."""
    with open_store(data) as store:
        ids = [f"{d.doc_id}:{n}" for d in store.list_docs() for n in range(1, d.pages + 1)]
        pages = store.get_pages(ids)
        return store.get_tokens(pages), {p.page_id: p.mode for p in pages}, store.audit()


def pixel_path(weights: Path, pdf: Path, mode: str) -> list[torch.Tensor]:
    """Each page rendered and encoded in `mode` by the same weights, without the index."""
    vision = VisionRuntime.load("deepseek-ocr", weights, device="cpu")
    with open_document(pdf) as doc:
        images = [doc.page(n).render() for n in range(1, doc.n_pages + 1)]
    return [e.rows for e in vision.encoder.encode(images, get_mode(mode))]


def test_compaction_round_trip_equals_the_pixel_path(built: tuple[Path, Path], tiny_weights: Path) -> None:
    data, pdf = built
    before, _, _ = stored(data)
    dry = compact(data, "--all", "--to", "small", "--dry-run")
    assert (
        dry["dry_run"]
        and dry["pages"] == 4
        and dry["bytes_now"] == sum(t.numel() * t.element_size() for t in before.values())
    )
    assert stored(data)[0].keys() == before.keys() and all(
        torch.equal(stored(data)[0][k], before[k]) for k in before
    )  # the dry run changed nothing

    done = compact(data, "--all", "--to", "small", *vision_args(tiny_weights))
    assert (done["compacted"], done["failed"], done["swept"]) == (4, 0, 0)
    after, modes, audit = stored(data)
    assert set(modes.values()) == {"small"} and audit["orphan_token_rows"] == 0 and audit["page_rows"] == 4
    expected = pixel_path(tiny_weights, pdf, "small")
    for n, rows in enumerate(expected, start=1):
        page_id = next(k for k in after if k.endswith(f":{n}"))
        assert torch.equal(after[page_id], rows)  # stored rows bit for bit what the pixel path gives
    real = sum(t.numel() * t.element_size() for t in after.values())
    assert done["bytes_after"] == real < done["bytes_now"]
    assert abs(dry["bytes_after"] - real) <= 0.1 * real  # the dry run's estimate

    status = cli_json("index", "status", "--data-dir", str(data))
    assert status["by_mode"]["small"]["pages"] == 4 and status["bytes"]["tokens"] == real
    again = compact(data, "--all", "--to", "small", *vision_args(tiny_weights))
    assert again["pages"] == 0 and again["skipped"] == {"already small or smaller": 4}  # idempotent


def test_compaction_to_text_keeps_answers_and_says_why_extract_cannot(
    built: tuple[Path, Path], tiny_weights: Path
) -> None:
    data, _ = built
    done = compact(data, "--all", "--to", "text")  # no model needed
    assert done["compacted"] == 4 and done["bytes_after"] == 0
    tokens, modes, audit = stored(data)
    assert tokens == {} and set(modes.values()) == {"text"} and audit["token_rows"] == 0
    status = cli_json("index", "status", "--data-dir", str(data))
    assert set(status["by_mode"]) == {"text"} and status["bytes"]["tokens"] == 0
    question = "How many barrels did Aurora 3 unload?"
    answer = cli_json("ask", question, "--data-dir", str(data), "--mode", "extractive")
    assert "120" in answer["answer"] + json.dumps(answer.get("passage"))
    page_id = next(iter(modes))
    proc = run_cli("extract", page_id, "--data-dir", str(data), *vision_args(tiny_weights))
    assert proc.returncode != 0 and "compacted to its text" in proc.stderr


def test_bad_requests_are_one_line_and_change_nothing(built: tuple[Path, Path], tmp_path: Path) -> None:
    data, pdf = built
    before, _, _ = stored(data)
    cases = [
        (("--to", "small"), "say which pages"),
        (("--to", "huge", "--all"), "--to"),
        (("--to", "small", "--older-than", "ninety days"), "--older-than"),
        (("--to", "small", "--doc", "0" * 64), "no complete document"),
        (("--to", "small", "--all"), "give --encoder deepseek-ocr and --weights"),
        (("--to", "small", "--all", "--token-codec", "zip"), "--token-codec"),
    ]
    for args, message in cases:
        proc = run_cli("index", "compact", *args, "--data-dir", str(data))
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    lite = tmp_path / "lite"
    cli_json("index", "build", str(pdf), "--data-dir", str(lite))
    proc = run_cli("index", "compact", "--to", "text", "--all", "--data-dir", str(lite))
    assert proc.returncode == 2 and "stores no vision tokens" in proc.stderr
    after, _, _ = stored(data)
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_a_changed_source_fails_its_document_only(built: tuple[Path, Path], tiny_weights: Path) -> None:
    data, pdf = built
    before, _, _ = stored(data)
    make_pdf(pdf, ["Someone rewrote this file after it was indexed."])
    args = ("--all", "--to", "tiny", "--data-dir", str(data), "--json", *vision_args(tiny_weights))
    proc = run_cli("index", "compact", *args)
    assert proc.returncode == 1
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failed"] == 4 and "changed since it was indexed" in result["errors"][0]["error"]
    after, modes, _ = stored(data)
    assert set(modes.values()) == {"base"} and all(torch.equal(after[k], before[k]) for k in before)


@pytest.mark.parametrize("stage", ["tokens_written", "switched", "dropped"])
def test_sigkill_at_each_stage_leaves_one_version_and_a_rerun_finishes(
    built: tuple[Path, Path], tiny_weights: Path, stage: str
) -> None:
    data, pdf = built
    old, _, _ = stored(data)
    argv = cli_command(
        "index", "compact", "--all", "--to", "tiny", "--batch-pages", "2", "--json", "--data-dir", str(data),
        *vision_args(tiny_weights),
    )  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proc = subprocess.Popen(argv, **pipes, env=env, cwd=REPO, start_new_session=True)  # type: ignore[call-overload]
    assert proc.stdout is not None
    for line in proc.stdout:  # the first batch's event of this stage, then kill the whole process group
        if json.loads(line).get("stage") == stage:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    assert proc.wait(timeout=120) == -signal.SIGKILL

    new = {n: rows for n, rows in enumerate(pixel_path(tiny_weights, pdf, "tiny"), start=1)}
    tokens, modes, audit = stored(data)
    assert audit["page_rows"] == audit["distinct_pages"] == 4 and len(tokens) == 4  # never a page without
    for page_id, rows in tokens.items():
        n = int(page_id.rsplit(":", 1)[1])
        version = modes[page_id]
        assert version in ("base", "tiny")
        assert torch.equal(rows, old[page_id] if version == "base" else new[n])  # the version its row names
    assert sum(m == "tiny" for m in modes.values()) >= (0 if stage == "tokens_written" else 2)

    rerun = compact(data, "--all", "--to", "tiny", *vision_args(tiny_weights))
    assert rerun["failed"] == 0 and (rerun["swept"] > 0) == (audit["orphan_token_rows"] > 0)
    tokens, modes, audit = stored(data)
    assert set(modes.values()) == {"tiny"} and audit["orphan_token_rows"] == 0 and audit["page_rows"] == 4
    assert all(torch.equal(tokens[p], new[int(p.rsplit(":", 1)[1])]) for p in tokens) and len(tokens) == 4

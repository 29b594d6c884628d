"""Gundam's tile cap through the real CLI: default 6, `--max-tiles` / VTRAG_GUNDAM_MAX_TILES, recorded with
the index and refused when a later build asks for another."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from encoder.modes import get_mode
from encoder.tiny import tiny_deepseek_ocr
from retriever.store import IndexStore
from tests.conftest import cli_json, run_cli


def wide_pdf(path: Path) -> Path:
    """One 960 x 540 pt page: rasterised at the official 144 dpi it is 1920 x 1080 px."""
    doc = pymupdf.open()
    page = doc.new_page(width=960, height=540)
    page.insert_textbox(pymupdf.Rect(40, 40, 920, 500), "A wide slide about tide tables.", fontsize=24)
    doc.save(path)
    doc.close()
    return path


def page_rows(data: Path) -> tuple[int, int | None]:
    """(n_tokens of the index's one page, its stored token rows or None)."""
    with IndexStore.open(str(data / "milvus.db")) as store:
        [doc] = store.list_docs()
        [page] = store.get_pages([f"{doc.doc_id}:1"])
        tokens = store.get_tokens([page.page_id]).get(page.page_id)
    return page.n_tokens, None if tokens is None else int(tokens.shape[0])


def test_tile_cap_defaults_to_6_is_recorded_and_a_different_cap_is_refused(tmp_path: Path) -> None:
    pdf = wide_pdf(tmp_path / "slide.pdf")
    data = tmp_path / "six"
    cli_json("index", "build", str(pdf), "--data-dir", str(data), "--mode", "gundam")
    status = cli_json("index", "status", "--data-dir", str(data))
    assert status["config"]["mode"] == "gundam" and status["config"]["max_tiles"] == 6
    assert page_rows(data) == (483, None)  # 2x1 tiles of 640 px + the 1024 px global view

    refused = run_cli(
        "index", "build", str(pdf), "--data-dir", str(data), "--mode", "gundam", "--max-tiles", "9"
    )
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert (
        "max 6 tiles" in refused.stderr and "max 9 tiles" in refused.stderr and "--recreate" in refused.stderr
    )
    assert cli_json("index", "status", "--data-dir", str(data)) == status

    nine = tmp_path / "nine"
    cli_json("index", "build", str(pdf), "--data-dir", str(nine), "--mode", "gundam", "--max-tiles", "9")
    assert cli_json("index", "status", "--data-dir", str(nine))["config"]["max_tiles"] == 9
    assert page_rows(nine) == (1093, None)  # 4x2 tiles
    # The setting from the environment is the same cap: the rerun finds the index as it was built.
    again = cli_json(
        "index",
        "build",
        str(pdf),
        "--data-dir",
        str(nine),
        "--mode",
        "gundam",
        env={"VTRAG_GUNDAM_MAX_TILES": "9"},
    )
    assert again["files"] == {"unchanged": 1}


def test_tile_cap_outside_2_to_9_is_a_clear_error(tmp_path: Path) -> None:
    pdf = wide_pdf(tmp_path / "slide.pdf")
    for bad in ("1", "10"):
        proc = run_cli("index", "build", str(pdf), "--data-dir", str(tmp_path / "x"), "--max-tiles", bad)
        assert proc.returncode == 2 and "--max-tiles" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli(
        "index", "build", str(pdf), "--data-dir", str(tmp_path / "x"), env={"VTRAG_GUNDAM_MAX_TILES": "12"}
    )
    assert proc.returncode == 2 and "gundam_max_tiles" in proc.stderr
    assert not (tmp_path / "x" / "milvus.db").exists()


def test_vision_build_stores_the_rows_of_the_cap(tmp_path: Path, tiny_weights: Path) -> None:
    pdf = wide_pdf(tmp_path / "slide.pdf")
    config = tiny_deepseek_ocr(seed=0).config
    vision = (
        "--encoder",
        "deepseek-ocr",
        "--weights",
        str(tiny_weights),
        "--device",
        "cpu",
        "--mode",
        "gundam",
    )
    found = {}
    for cap in ("6", "9"):
        data = tmp_path / cap
        cli_json("index", "build", str(pdf), "--data-dir", str(data), "--max-tiles", cap, *vision)
        found[cap] = page_rows(data)
        expected = config.token_rows(get_mode("gundam", int(cap)), 1920, 1080)
        assert found[cap] == (expected, expected)
    assert found["6"] != found["9"]

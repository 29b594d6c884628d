"""`vtrag index build --mode auto` through the real CLI: recorded as the index's mode, each page's own mode in
the accounting; a bad target is a clear error that creates nothing."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import cli_json, make_pdf, run_cli
from tests.indexer.test_auto_mode import dense_text, slide


def test_auto_mode_build_and_status(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    slide(docs / "slide.pdf")
    dense_text(docs / "dense.pdf")
    data = tmp_path / "index"
    cli_json("index", "build", str(docs), "--data-dir", str(data), "--mode", "auto")
    status = cli_json("index", "status", "--data-dir", str(data))
    assert status["config"]["mode"] == "auto" and status["config"]["max_tiles"] == 6
    assert {m: g["pages"] for m, g in status["by_mode"].items()} == {"gundam": 1, "tiny": 1}
    # A stricter target would put the slide in the same mode: the index's identity is "auto", not the target.
    again = cli_json(
        "index", "build", str(docs), "--data-dir", str(data), "--mode", "auto", "--max-compression", "5"
    )
    assert again["files"] == {"unchanged": 2}


def test_bad_auto_settings_are_clear_errors(tmp_path: Path) -> None:
    pdf = slide(tmp_path / "slide.pdf")
    data = tmp_path / "x"
    for bad in ("0", "101"):
        proc = run_cli(
            "index", "build", str(pdf), "--data-dir", str(data), "--mode", "auto", "--max-compression", bad
        )
        assert proc.returncode == 2 and "max_compression" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("index", "build", str(pdf), "--data-dir", str(data), env={"VTRAG_FALLBACK_MODE": "auto"})
    assert proc.returncode == 2 and "fallback_mode" in proc.stderr
    assert not (data / "milvus.db").exists()


def test_a_lite_build_given_weights_counts_with_their_tokenizer(tmp_path: Path, tiny_weights: Path) -> None:
    """No encoder runs, but the weights folder's tokenizer counts the text tokens: the tiny test tokenizer
    spends a token per character, ~4x the estimate, so the same page needs a bigger mode."""
    from indexer.auto_mode import estimate_tokens, tokenizer_counter

    words = " ".join(["lighthouse"] * 150)  # 1,649 characters: estimate 450 (Tiny), tokenizer 1,649 (Base)
    pdf = make_pdf(tmp_path / "words.pdf", [words])
    assert estimate_tokens(words) <= 640 < 1000 < tokenizer_counter(tiny_weights)(words) <= 2560
    modes = {}
    for name, extra in (("estimate", ()), ("tokenizer", ("--weights", str(tiny_weights)))):
        data = tmp_path / name
        cli_json("index", "build", str(pdf), "--data-dir", str(data), "--mode", "auto", *extra)
        modes[name] = set(cli_json("index", "status", "--data-dir", str(data))["by_mode"])
    assert modes == {"estimate": {"tiny"}, "tokenizer": {"base"}}
    proc = run_cli(
        "index",
        "build",
        str(pdf),
        "--data-dir",
        str(tmp_path / "x"),
        "--mode",
        "auto",
        "--weights",
        str(tmp_path),
    )
    assert proc.returncode == 2 and "tokenizer.json is missing" in proc.stderr

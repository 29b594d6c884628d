"""The index build, search, ask, status and delete through the real CLI, on Milvus Lite in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import DEFAULT_READER, cli_json, make_pdf, make_scanned_pdf, run_cli


def build(data: Path, *paths: Path, extra: tuple[str, ...] = ()) -> list[dict]:
    proc = run_cli("index", "build", *map(str, paths), "--data-dir", str(data), "--json", *extra)
    assert proc.returncode in (0, 1), proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def statuses(events: list[dict]) -> dict[str, str]:
    return {Path(e["path"]).name: e["status"] for e in events if e["event"] == "document"}


def test_build_search_ask_status(corpus: Path, tmp_path: Path) -> None:
    make_scanned_pdf(corpus / "scanned.pdf", "The museum opens every Tuesday at nine in the morning.")
    data = tmp_path / "index"
    events = build(data, corpus)
    assert statuses(events) == {
        "bread.pdf": "indexed",
        "lighthouse.pdf": "indexed",
        "printing.pdf": "indexed",
        "scanned.pdf": "indexed",
    }
    assert events[-1]["event"] == "done" and events[-1]["pages_written"] == 5
    assert events[-1]["write_threads"] == 2  # a text-only build's default

    status = cli_json("index", "status", "--data-dir", str(data))
    assert status["documents"] == 4 and status["pages"] == 5
    assert status["pages_by_text_source"] == {"pdf": 4, "ocr": 1}
    assert status["bytes"]["sources"] == sum(p.stat().st_size for p in corpus.iterdir())
    assert {k: g["pages"] for k, g in status["by_text_source"].items()} == {"pdf": 4, "ocr": 1}
    assert status["by_mode"]["base"]["pages"] == 5 and list(status["by_codec"]) == ["none"]
    assert status["projected_bytes_per_million_pages"]["tokens"] == 0
    text = run_cli("index", "status", "--data-dir", str(data), check=True).stdout
    assert "by mode    base: 5 pages" in text and "GB per million pages like these" in text

    found = cli_json("search", "keeper storm lamp", "--top-k", "3", "--data-dir", str(data))
    top = found["results"][0]
    assert set(top) >= {"doc_id", "source", "page", "score", "snippet"}
    assert (Path(top["source"]).name, top["page"]) == ("lighthouse.pdf", 1)
    assert top["source"] == str(corpus / "lighthouse.pdf")
    assert "storm" in top["snippet"]

    scanned = cli_json("search", "museum Tuesday", "--top-k", "1", "--data-dir", str(data))
    assert Path(scanned["results"][0]["source"]).name == "scanned.pdf"

    answer = cli_json("ask", "When was the Harbour Lighthouse built?", "--data-dir", str(data))
    assert answer["mode"] == "extractive"
    assert "1871" in answer["answer"]
    cite = answer["citations"][0]
    assert (Path(cite["source"]).name, cite["page"]) == ("lighthouse.pdf", 1)
    x0, y0, x1, y1 = cite["bbox"]["points"]
    assert 0 <= x0 < x1 <= 595 and 0 <= y0 < y1 <= 842
    assert cite["bbox"]["pixels"][2] == x1 * cite["bbox"]["dpi"] / 72
    # The answer comes with its supporting passage: the sentence around it, its page and box.
    passage = answer["passage"]
    a, b = passage["span"]
    assert passage["text"][a:b] == answer["answer"] and len(passage["text"]) <= 300
    assert "lighthouse" in passage["text"].lower() and passage["page"] == 1
    assert passage["bbox"]["points"][1] <= y0 and passage == answer["passages"][0]
    assert answer["reader"] == DEFAULT_READER

    shown = run_cli("ask", "When was the Harbour Lighthouse built?", "--data-dir", str(data))
    assert shown.returncode == 0, shown.stderr
    first, second = shown.stdout.splitlines()[:2]
    assert first.startswith("answer: 1871") and f"[extractive, reader: {DEFAULT_READER}]" in first
    assert "lighthouse.pdf p.1" in second and "«1871»" in second  # the passage, the answer marked


def test_rebuild_is_idempotent_and_a_changed_file_replaces_its_pages(corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "index"
    build(data, corpus)
    before = cli_json("index", "status", "--data-dir", str(data))

    again = build(data, corpus)
    assert set(statuses(again).values()) == {"unchanged"}
    assert cli_json("index", "status", "--data-dir", str(data)) == before

    make_pdf(
        corpus / "bread.pdf",
        ["A wheat loaf needs strong flour.", "Knead it for ten minutes.", "Bake it until golden."],
    )
    changed = build(data, corpus)
    assert statuses(changed)["bread.pdf"] == "replaced"
    after = cli_json("index", "status", "--data-dir", str(data))
    assert (after["documents"], after["pages"]) == (before["documents"], before["pages"] + 2)
    hits = cli_json("search", "caraway rye sourdough", "--top-k", "10", "--data-dir", str(data))["results"]
    assert all("caraway" not in h["snippet"] for h in hits)


def test_delete_by_doc_id_and_by_path(corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "index"
    events = build(data, corpus)
    ids = {Path(e["path"]).name: e["doc_id"] for e in events if e["event"] == "document"}

    assert cli_json("index", "delete", ids["bread.pdf"], "--data-dir", str(data))["deleted"] == [
        ids["bread.pdf"]
    ]
    assert cli_json("index", "delete", str(corpus / "printing.pdf"), "--data-dir", str(data))["deleted"] == [
        ids["printing.pdf"]
    ]
    status = cli_json("index", "status", "--data-dir", str(data))
    assert (status["documents"], status["pages"]) == (1, 2)
    results = cli_json("search", "Gutenberg printing press", "--data-dir", str(data))["results"]
    assert {Path(r["source"]).name for r in results} == {"lighthouse.pdf"}

    missing = run_cli("index", "delete", "0" * 64, "--data-dir", str(data))
    assert missing.returncode == 2 and "no document matches" in missing.stderr


def test_search_filters_by_doc(corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "index"
    events = build(data, corpus)
    bread = next(e["doc_id"] for e in events if e["event"] == "document" and e["path"].endswith("bread.pdf"))
    results = cli_json("search", "lighthouse", "--doc", bread, "--data-dir", str(data))["results"]
    assert results and {r["doc_id"] for r in results} == {bread}


def test_search_before_any_build_says_what_to_do(tmp_path: Path) -> None:
    proc = run_cli("search", "anything", "--data-dir", str(tmp_path / "empty"))
    assert proc.returncode == 3
    assert "vtrag index build" in proc.stderr

"""The batch-query JSON contract and every `vtrag eval` command, through the real CLI on tiny data."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

RECORDS = [
    ("lighthouse_0", "Harbour Lighthouse",
     "The Harbour Lighthouse was built in 1871 by Thomas Rowe on the northern breakwater of the port."),
    ("lighthouse_1", "Harbour Lighthouse",
     "In 1921 the oil lamp of the lighthouse was replaced by an electric light visible for twenty miles."),
    ("bread_0", "Rye bread",
     "A rye loaf needs sourdough starter, dark rye flour and caraway seeds, and rises for twelve hours."),
    ("printing_0", "Printing press",
     "Johannes Gutenberg introduced movable type printing to Europe around 1440 in Mainz."),
]  # fmt: skip
QUESTIONS = [
    ("q1", "Who built the Harbour Lighthouse?", "lighthouse_0", ["Thomas Rowe"]),
    ("q2", "When was the oil lamp replaced by an electric light?", "lighthouse_1", ["1921", "In 1921"]),
    ("q3", "How long does the rye dough rise?", "bread_0", ["twelve hours"]),
    ("q4", "Who introduced movable type printing to Europe?", "printing_0", ["Johannes Gutenberg"]),
]


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    root = tmp_path / "tiny-set"
    root.mkdir()
    _jsonl(root / "corpus.jsonl", [{"id": i, "title": t, "text": x} for i, t, x in RECORDS])
    _jsonl(root / "queries.jsonl", [{"id": q, "text": t} for q, t, _, _ in QUESTIONS])
    (root / "qrels.tsv").write_text("".join(f"{q}\t{d}\t1\n" for q, _, d, _ in QUESTIONS))
    _jsonl(root / "answers.jsonl", [{"id": q, "corpus_id": d, "answers": a} for q, _, d, a in QUESTIONS])
    return root


def _lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_eval_retrieval_batch_queries_and_qa_share_one_cached_index(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    cache, out, bench = tmp_path / "cache", tmp_path / "out", tmp_path / "BENCHMARKS.md"
    bench.write_text("# Benchmarks\n\n## Encoder speed\n\nkept as is\n")
    common = ("--cache-dir", str(cache), "--out", str(out), "--benchmarks", str(bench), "--json")

    proc = run_cli("eval", "retrieval", str(tiny_dataset), *common)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "(built)" in proc.stderr
    assert res["queries"] == 4 and res["index"]["pages"] == 4
    systems = res["systems"]
    assert set(systems) == {"pipeline", "milvus_bm25", "dense", "bm25_raw"}
    assert systems["pipeline"]["Recall@10"] == 1.0 and systems["bm25_raw"]["Recall@10"] == 1.0
    assert 0.0 < systems["pipeline"]["nDCG@10"] <= 1.0
    ndcg = systems["pipeline"]["nDCG@10"] / systems["bm25_raw"]["nDCG@10"]
    assert res["ratio"]["nDCG@10"] == pytest.approx(ndcg)
    saved = json.loads(next(out.glob("retrieval-*[a-z].json")).read_text())
    assert saved["stamp"]["command"].startswith("vtrag eval retrieval") and "runs" not in saved
    with gzip.open(next(out.glob("retrieval-*.details.json.gz")), "rt") as f:
        assert set(json.load(f)["runs"]["pipeline"]) == {"q1", "q2", "q3", "q4"}
    if importlib.util.find_spec("matplotlib") is not None:
        assert next(out.glob("retrieval-*.png")).stat().st_size > 1000

    # Batch queries over the index the evaluation just built: one JSON line per query, in input order.
    data = next(cache.glob("*/index"))
    queries = tmp_path / "queries.jsonl"
    rows = [{"id": "a", "text": "caraway sourdough rye"}, {"id": 7, "text": "movable type Mainz"}]
    _jsonl(queries, [*rows, {"id": "empty", "text": "  "}])
    proc = run_cli("search", "--queries", str(queries), "--top-k", "2", "--data-dir", str(data), "--json")
    assert proc.returncode == 2, proc.stderr  # one query was refused: its line says why, the others ran
    lines = _lines(proc.stdout)
    assert [o["id"] for o in lines] == ["a", "7", "empty"]
    assert Path(lines[0]["results"][0]["source"]).name == "bread_0.pdf"
    assert Path(lines[1]["results"][0]["source"]).name == "printing_0.pdf"
    assert len(lines[0]["results"]) == 2
    assert set(lines[0]["results"][0]) >= {"doc_id", "source", "page", "score", "snippet"}
    assert "empty" in lines[2]["error"]

    questions = tmp_path / "questions.jsonl"
    _jsonl(questions, [{"id": q, "text": t} for q, t, _, _ in QUESTIONS[:2]])
    proc = run_cli("ask", "--questions", str(questions), "--data-dir", str(data), "--json")
    assert proc.returncode == 0, proc.stderr
    lines = _lines(proc.stdout)
    assert [o["id"] for o in lines] == ["q1", "q2"]
    assert "Thomas Rowe" in lines[0]["answer"] and lines[0]["mode"] == "extractive"
    assert "1921" in lines[1]["answer"]
    assert Path(lines[1]["citations"][0]["source"]).name == "lighthouse_1.pdf"

    proc = run_cli("eval", "qa", str(tiny_dataset), "--top-k", "2", *common)
    assert proc.returncode == 0, proc.stderr
    assert "(reused)" in proc.stderr
    qa = json.loads(proc.stdout.strip().splitlines()[-1])
    assert qa["questions"] == 4 and qa["hit_rate"]["at_k"] == 1.0
    assert qa["end_to_end"]["f1"] >= 50.0 and qa["oracle"]["f1"] >= 50.0
    assert qa["loss"]["reading"] == pytest.approx(100.0 - qa["oracle"]["f1"], abs=0.01)
    assert qa["passage_has_answer"] >= 0.5 and qa["cited_page_precision"] >= 0.5  # what a person sees

    text = bench.read_text()
    assert text.startswith("# Benchmarks\n\n## Encoder speed\n\nkept as is\n")
    assert text.count("## Evaluation (vtrag eval)") == 1
    assert "### Retrieval: tiny-set" in text and "### QA: tiny-set" in text
    assert "the answer's passage (≤ 300 characters) contains a gold answer" in text


def test_eval_ocr_and_retrieval_through_ocr(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ("--modes", "tiny,base", "--sample", "2", "--out", str(out), "--json")
    proc = run_cli("eval", "ocr", str(tiny_dataset), *args)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["pages"] == 2 and list(res["modes"]) == ["tiny", "base"]
    base = res["modes"]["base"]
    assert base["vision_tokens"] == 256 and res["modes"]["tiny"]["vision_tokens"] == 64
    assert base["char_accuracy"] > 0.9  # short, clean lines at 1024 px
    assert base["compression"] == pytest.approx(base["text_tokens_mean"] / 256)
    assert sum(b["pages"] for b in base["buckets"].values()) == 2

    proc = run_cli("eval", "retrieval", str(tiny_dataset), "--text-source", "ocr", "--no-legs",
                   "--sample", "2", "--corpus-sample", "3",
                   "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["queries"] == 2 and res["config"]["corpus_records"] == 3  # judged records + a distractor
    assert res["index"]["pages_by_text_source"] == {"pdf": 0, "ocr": 3}
    assert res["systems"]["pipeline"]["Recall@5"] == 1.0


def test_bad_input_is_refused_before_any_work(tmp_path: Path) -> None:
    proc = run_cli("eval", "retrieval", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "corpus.jsonl" in proc.stderr
    proc = run_cli("eval", "ocr", str(tmp_path), "--modes", "huge")
    assert proc.returncode == 2 and "huge" in proc.stderr
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "x"}\n')
    proc = run_cli("search", "rye", "--queries", str(queries), "--data-dir", str(tmp_path))
    assert proc.returncode == 2 and "not both" in proc.stderr

"""The offline reader harness: paragraphs as fake pages, gold and BM25 settings, EM/F1 out."""

from __future__ import annotations

import json

import pytest

from decoder.extractive import ExtractiveAnswer
from evaluation.bm25 import BM25, analyze
from evaluation.datasets import CorpusDoc, load_dataset
from evaluation.reader_eval import CachedEmbedder, main, paragraph_page, run_reader, select_queries


def _dataset(root):
    d = root / "toy"
    d.mkdir()
    corpus = [
        {
            "id": "p1",
            "title": "Lighthouse",
            "text": "The lighthouse was built in 1871. Its keeper was Ann Bell.",
        },
        {"id": "p2", "title": "Harbour", "text": "The harbour opened in 1902. It holds 40 boats."},
        {"id": "p3", "title": "Town", "text": "The town has 3,000 people. The mayor is Tom Reid."},
    ]
    rows = [
        ("q1", "When was the lighthouse built?", "p1", ["1871"]),
        ("q2", "How many boats does the harbour hold?", "p2", ["40", "40 boats"]),
        ("q3", "Who is the mayor of the town?", "p3", ["Tom Reid"]),
    ]
    (d / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus) + "\n")
    (d / "queries.jsonl").write_text(
        "\n".join(json.dumps({"id": q, "text": t}) for q, t, _, _ in rows) + "\n"
    )
    (d / "qrels.tsv").write_text("".join(f"{q}\t{p}\t1\n" for q, _, p, _ in rows))
    (d / "answers.jsonl").write_text(
        "\n".join(json.dumps({"id": q, "corpus_id": p, "answers": a}) for q, _, p, a in rows) + "\n"
    )
    return d


def test_paragraph_page_lines_cover_sentences():
    page = paragraph_page(CorpusDoc("p1", "T", "One sentence here. Another one there."))
    assert page.page_no == 1 and page.page_id == "p1:1" and page.dpi == 144.0
    assert [page.text[ln.start : ln.end] for ln in page.lines] == ["One sentence here.", "Another one there."]
    assert page.lines[0].bbox[1] < page.lines[1].bbox[1]
    titled = paragraph_page(CorpusDoc("p1", "T", "Body."), title=True, per_sentence=False)
    assert titled.text == "T\nBody." and len(titled.lines) == 1


@pytest.mark.parametrize("setting", ["gold", "bm25"])
def test_run_reader_scores_a_toy_set(tmp_path, setting):
    ds = load_dataset(_dataset(tmp_path))
    res = run_reader(ds, select_queries(ds), setting=setting, top_k=2)
    assert res["questions"] == 3 and res["predicted"] == 3
    assert res["exact_match"] == pytest.approx(100.0)
    assert res["f1"] == pytest.approx(100.0)
    assert [r["prediction"] for r in res["records"]] == ["1871", "40", "Tom Reid"]
    if setting == "bm25":
        assert res["retrieval"]["Recall@1"] == pytest.approx(1.0)
    else:
        assert "retrieval" not in res


def test_run_reader_counts_misses(tmp_path):
    ds = load_dataset(_dataset(tmp_path))
    res = run_reader(ds, ["q1", "q3"], reader=lambda q, hits, embedder=None: ExtractiveAnswer("", 0.0))
    assert res["exact_match"] == 0.0 and res["f1"] == 0.0
    with pytest.raises(ValueError):
        run_reader(ds, ["q1"], setting="oracle")


def test_select_queries_limit_and_exclude(tmp_path):
    ds = load_dataset(_dataset(tmp_path))
    assert select_queries(ds) == ["q1", "q2", "q3"]
    assert select_queries(ds, exclude={"q2"}) == ["q1", "q3"]
    two = select_queries(ds, limit=2)
    assert len(two) == 2 and two == select_queries(ds, limit=2)  # seeded


def test_bm25_ranks_like_the_baseline_analyzer():
    assert analyze("The Cities' libraries, and buses!") == ["city", "library", "buse"]
    bm25 = BM25([("a", "red apples and red cherries"), ("b", "green apples"), ("c", "bananas")])
    ranked = bm25.search("red apple")
    assert [d for d, _ in ranked] == ["a", "b"]
    assert bm25.search("nothing here") == []


def test_cached_embedder_embeds_each_text_once():
    calls = []

    class Counting:
        def embed(self, texts):
            import numpy as np

            calls.append(list(texts))
            return np.ones((len(texts), 3), dtype="float32")

    emb = CachedEmbedder(Counting())
    assert emb.embed(["a", "b", "a"]).shape == (3, 3)
    emb.embed(["b", "c"])
    emb.embed_query("a")
    assert calls == [["a", "b"], ["c"]]


def test_cli_prints_both_settings(tmp_path, capsys):
    d = _dataset(tmp_path)
    dump = tmp_path / "out.jsonl"
    assert main([str(d), "--setting", "both", "--top-k", "2", "--dump", str(dump)]) == 0
    out = capsys.readouterr().out
    assert "[gold] n=3: EM 100.0  F1 100.0" in out
    assert "[bm25 top-2] n=3" in out
    assert len((tmp_path / "out.jsonl.gold").read_text().splitlines()) == 3

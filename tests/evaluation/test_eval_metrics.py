"""Evaluation metrics against hand-computed cases, and against the shared BM25 reference script."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import random
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from evaluation.bm25 import BM25
from evaluation.datasets import load_dataset
from evaluation.metrics import (
    cer,
    char_accuracy,
    contains_answer,
    corpus_char_accuracy,
    evaluate_answers,
    evaluate_retrieval,
    exact_match,
    f1_score,
    levenshtein,
    max_over_gold,
    mrr_at_k,
    ndcg_at_k,
    normalize_answer,
    rank_by_score,
    recall_at_k,
)

EVALDATA = Path(__file__).resolve().parents[3] / "shared" / "evaldata"
BASELINE = EVALDATA / "tools" / "bm25_baseline.py"

# ------------------------------------------------------------------------------------------ retrieval


def test_ndcg_hand_computed():
    rel = {"a": 1, "b": 2}
    # b at rank 1 (gain 2), a at rank 3 (gain 1): DCG = 2/log2(2) + 1/log2(4) = 2.5; IDCG = 2 + 1/log2(3)
    assert ndcg_at_k(["b", "x", "a"], rel) == pytest.approx(2.5 / (2 + 1 / math.log2(3)))
    assert ndcg_at_k(["b", "a"], rel) == pytest.approx(1.0)
    assert ndcg_at_k(["x"] * 3, rel) == 0.0
    assert ndcg_at_k(["a"], {}) == 0.0
    # only the top 10 count
    assert ndcg_at_k([f"x{i}" for i in range(10)] + ["a"], {"a": 1}) == 0.0


def test_recall_and_mrr_hand_computed():
    rel = {"a": 1, "b": 1, "c": 0}
    run = ["x", "a", "c", "y", "b"]
    assert recall_at_k(run, rel, 1) == 0.0
    assert recall_at_k(run, rel, 2) == 0.5
    assert recall_at_k(run, rel, 5) == 1.0
    assert mrr_at_k(run, rel) == 0.5
    assert mrr_at_k(["c", "x"], rel) == 0.0  # grade 0 is not relevant
    assert mrr_at_k([f"x{i}" for i in range(10)] + ["a"], rel) == 0.0


def test_duplicates_in_a_run_count_once():
    assert ndcg_at_k(["a", "a"], {"a": 1, "b": 1}) == ndcg_at_k(["a"], {"a": 1, "b": 1})
    assert recall_at_k(["a", "a", "b"], {"a": 1, "b": 1}, 2) == 1.0


def test_evaluate_retrieval_averages_over_judged_queries():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}  # q3 has nothing relevant: not evaluated
    runs = {"q1": ["a", "b"], "q3": ["c"]}  # q2 has no run: scores 0
    m = evaluate_retrieval(runs, qrels, ks=(1, 5))
    assert m["queries"] == 2
    assert m["nDCG@10"] == pytest.approx(0.5)
    assert m["MRR@10"] == pytest.approx(0.5)
    assert m["Recall@1"] == pytest.approx(0.5)
    assert set(m) == {"nDCG@10", "MRR@10", "Recall@1", "Recall@5", "queries"}


def test_rank_by_score_breaks_ties_by_id():
    assert rank_by_score({"b": 1.0, "a": 1.0, "c": 2.0}) == ["c", "a", "b"]
    assert rank_by_score({"b": 1.0, "a": 1.0, "c": 2.0}, k=1) == ["c"]


# ------------------------------------------------------------------------------------------ SQuAD


def test_normalize_answer_like_the_official_script():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("Levi's Stadium") == "levis stadium"
    assert normalize_answer("theory") == "theory"  # articles only as whole words
    assert normalize_answer("") == ""


def test_exact_match_and_f1_hand_computed():
    assert exact_match("the Denver Broncos", "Denver Broncos.") == 1.0
    assert exact_match("Denver", "Denver Broncos") == 0.0
    # pred {denver}, gold {denver, broncos}: P=1, R=1/2, F1=2/3
    assert f1_score("Denver", "Denver Broncos") == pytest.approx(2 / 3)
    # pred {san, francisco, bay, area}, gold {santa, clara, california}: no overlap
    assert f1_score("San Francisco Bay Area", "Santa Clara, California") == 0.0
    # repeated tokens are a bag: pred {a, a, b} vs gold {a, b}: same = 2, P = 2/3, R = 1
    assert f1_score("x x y", "x y") == pytest.approx(0.8)
    assert f1_score("", "Denver") == 0.0
    assert f1_score("the", "a") == 0.0  # both normalise to nothing: v1.1 gives 0
    assert exact_match("the", "a") == 1.0


def test_max_over_gold_and_evaluate_answers():
    golds = ["Santa Clara, California", "Levi's Stadium", "Levi's Stadium in the San Francisco Bay Area"]
    assert max_over_gold(exact_match, "Levi's Stadium", golds) == 1.0
    assert max_over_gold(f1_score, "Stadium", golds) == pytest.approx(2 / 3)
    assert max_over_gold(f1_score, "x", []) == 0.0
    res = evaluate_answers(
        {"q1": "Levi's Stadium", "q2": "Denver"}, {"q1": golds, "q2": ["Denver Broncos"], "q3": ["x"]}
    )
    assert res["questions"] == 3 and res["predicted"] == 2
    assert res["exact_match"] == pytest.approx(100 / 3)
    assert res["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)


# ------------------------------------------------------------------------------------------ characters


def _dp_levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_levenshtein_hand_cases():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("abc", "") == 3
    assert levenshtein("abc", "abc") == 0
    assert levenshtein("flaw", "lawn") == 2
    assert levenshtein("ünïcode", "unicode") == 2


def test_levenshtein_matches_dynamic_programming():
    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choice("abcde ") for _ in range(rng.randint(0, 40)))
        b = "".join(rng.choice("abcde ") for _ in range(rng.randint(0, 40)))
        assert levenshtein(a, b) == _dp_levenshtein(a, b), (a, b)
    # longer than a machine word: the bit vectors are Python ints
    a = "".join(rng.choice("abcdefgh") for _ in range(300))
    b = "".join(rng.choice("abcdefgh") for _ in range(280))
    assert levenshtein(a, b) == _dp_levenshtein(a, b)


def test_cer_and_char_accuracy():
    assert cer("abcd", "abed") == pytest.approx(0.25)
    assert char_accuracy("abcd", "abed") == pytest.approx(0.75)
    assert char_accuracy("ab", "xxxxxx") == 0.0  # floored
    assert cer("", "") == 0.0 and cer("", "x") == 1.0
    res = corpus_char_accuracy([("abcd", "abed"), ("ab", "ab")])
    assert res["char_accuracy"] == pytest.approx(1 - 1 / 6)
    assert res["mean_char_accuracy"] == pytest.approx((0.75 + 1.0) / 2)
    assert res["pairs"] == 2


# ------------------------------------------------------------------------------------------ datasets


def _write_dataset(root: Path) -> Path:
    d = root / "toy"
    (d / "sample_2").mkdir(parents=True)
    corpus = [
        {"id": "p1", "title": "Rivers", "text": "The Rhine flows from the Alps to the North Sea."},
        {"id": "p2", "title": "Rivers", "text": "The Danube flows into the Black Sea."},
        {"id": "p3", "title": "Mountains", "text": "The Alps are high mountains in Europe."},
    ]
    queries = [
        {"id": "q1", "text": "Where does the Rhine flow to?"},
        {"id": "q2", "text": "Which sea does the Danube reach?"},
    ]
    answers = [
        {"id": "q1", "corpus_id": "p1", "answers": ["the North Sea", "North Sea"]},
        {"id": "q2", "corpus_id": "p2", "answers": ["Black Sea"]},
    ]
    (d / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus) + "\n")
    for folder, n in ((d, 2), (d / "sample_2", 1)):
        (folder / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in queries[:n]) + "\n")
        (folder / "answers.jsonl").write_text("\n".join(json.dumps(r) for r in answers[:n]) + "\n")
        (folder / "qrels.tsv").write_text("".join(f"{a['id']}\t{a['corpus_id']}\t1\n" for a in answers[:n]))
    return d


def test_load_dataset_and_sample(tmp_path):
    d = _write_dataset(tmp_path)
    full = load_dataset(d)
    assert list(full.corpus) == ["p1", "p2", "p3"] and full.corpus["p3"].title == "Mountains"
    assert list(full.queries) == ["q1", "q2"]
    assert full.qrels == {"q1": {"p1": 1}, "q2": {"p2": 1}}
    assert full.answers["q1"] == ["the North Sea", "North Sea"]
    assert full.relevant("q2") == ["p2"] and full.relevant("nope") == []
    sample = load_dataset(d, "sample_2")
    assert list(sample.queries) == ["q1"] and len(sample.corpus) == 3
    assert load_dataset(d / "sample_2").queries == sample.queries  # the sample folder itself works too
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path)
    import gzip

    with gzip.open(d / "corpus.jsonl.gz", "wb") as f:  # a dataset kept in a repo may gzip its corpus
        f.write((d / "corpus.jsonl").read_bytes())
    (d / "corpus.jsonl").unlink()
    assert load_dataset(d).corpus == full.corpus and load_dataset(d, "sample_2").corpus == full.corpus


def test_contains_answer_on_normalised_whole_words():
    assert contains_answer("If set, Bash includes ‘dotglob’ files.", "dotglob") == 1.0
    assert contains_answer("The default is 8.5 by 11 inches.", "8.5 by 11 inches") == 1.0
    assert contains_answer("Use -lfoo here.", "-l") == 0.0  # whole words only
    assert contains_answer("anything", "-a") == 0.0  # a gold that normalises to nothing never matches


# ------------------------------------------------------------------------------------------ cross-check


def _run_baseline(argv: list[str]) -> dict[str, float]:
    spec = importlib.util.spec_from_file_location("bm25_baseline", BASELINE)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = io.StringIO()
    old = sys.argv
    sys.argv = ["bm25_baseline.py", *argv]
    try:
        with redirect_stdout(out):
            mod.main()
    finally:
        sys.argv = old
    metrics = {}
    for line in out.getvalue().splitlines()[1:]:
        name, value = line.split()
        metrics[name] = float(value)
    return metrics


def _crosscheck(dataset_dir: Path, qfile: Path, qrels_file: Path) -> None:
    expected = _run_baseline([str(dataset_dir), "--queries", str(qfile), "--qrels", str(qrels_file)])
    ds = load_dataset(dataset_dir)
    bm25 = BM25((d.id, f"{d.title} {d.text}") for d in ds.corpus.values())
    queries = [json.loads(line) for line in qfile.read_text().splitlines() if line.strip()]
    from evaluation.datasets import read_qrels

    qrels = read_qrels(qrels_file)
    runs = {q["id"]: [d for d, _ in bm25.search(q["text"], k=100)] for q in queries}
    got = evaluate_retrieval(runs, {q["id"]: qrels.get(q["id"], {}) for q in queries})
    for key, value in expected.items():
        assert round(got[key], 4) == pytest.approx(value, abs=1e-9), key


@pytest.mark.skipif(not BASELINE.exists(), reason="shared/evaldata is not beside this checkout")
def test_retrieval_metrics_reproduce_the_baseline_on_a_toy_set(tmp_path):
    d = _write_dataset(tmp_path)
    _crosscheck(d, d / "queries.jsonl", d / "qrels.tsv")


@pytest.mark.skipif(not (EVALDATA / "squad-v1.1-dev" / "corpus.jsonl").exists(), reason="no shared evaldata")
def test_retrieval_metrics_reproduce_the_baseline_on_squad(tmp_path):
    # 150 sample questions over the full 2,067-paragraph corpus: same rankings -> same numbers, to 4 decimals.
    root = EVALDATA / "squad-v1.1-dev"
    lines = (root / "sample_1000" / "queries.jsonl").read_text().splitlines()[:150]
    qfile = tmp_path / "queries.jsonl"
    qfile.write_text("\n".join(lines) + "\n")
    _crosscheck(root, qfile, root / "sample_1000" / "qrels.tsv")

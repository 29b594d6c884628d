"""Pure pieces of the evaluation: the BENCHMARKS.md writer, corpus cuts, file names, pages, batch input."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from api.service.batch import read_queries
from evaluation.datasets import CorpusDoc, EvalDataset
from evaluation.ocr_eval import bucket_of, make_pages
from evaluation.render import file_stem, page_text, write_pdf, write_scanned_pdf
from evaluation.report import SECTION, update_benchmarks
from evaluation.retrieval_eval import restrict_corpus, select_queries
from evaluation.scratch import corpus_fingerprint


def _ds() -> EvalDataset:
    corpus = {f"d{i}": CorpusDoc(f"d{i}", "A" if i < 3 else "B", f"text {i}") for i in range(10)}
    queries = {"q1": "one", "q2": "two", "q3": "three"}
    qrels = {"q1": {"d1": 1}, "q2": {"d7": 1}, "q3": {"missing": 1}}
    return EvalDataset("toy", corpus, queries, qrels)


def test_benchmarks_blocks_are_replaced_in_place_and_other_sections_kept(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Encoder\n\nrows\n")
    update_benchmarks(path, "a", "### A\n\nfirst")
    update_benchmarks(path, "b", "### B\n\ntwo")
    with path.open("a") as f:
        f.write("\n## Decoder\n\nsomeone else's\n")
    update_benchmarks(path, "a", "### A\n\nthree")
    update_benchmarks(path, "c", "### C")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\n## Encoder\n\nrows\n")
    assert text.count(SECTION) == 1 and text.count("### A") == 1
    assert "three" in text and "first" not in text
    assert text.index("### A") < text.index("### B") < text.index("### C") < text.index("## Decoder")
    assert text.rstrip().endswith("someone else's")


def test_queries_and_corpus_cut() -> None:
    ds = _ds()
    assert select_queries(ds, None) == ["q1", "q2"]  # q3's judged record is not in the corpus
    assert select_queries(ds, 1) == select_queries(ds, 1)  # seeded
    cut = restrict_corpus(ds, ["q1", "q2"], 5)
    assert len(cut.corpus) == 5 and {"d1", "d7"} <= set(cut.corpus)
    assert cut.queries == ds.queries and restrict_corpus(ds, ["q1", "q2"], 5).corpus == cut.corpus
    assert corpus_fingerprint(cut.corpus.values()) != corpus_fingerprint(ds.corpus.values())
    assert corpus_fingerprint(reversed(list(ds.corpus.values()))) == corpus_fingerprint(ds.corpus.values())


def test_ocr_pages_pack_records_of_one_title() -> None:
    pages = make_pages(_ds(), None, pack=2)
    assert [p.id for p in pages] == ["d0", "d2", "d3", "d5", "d7", "d9"]  # title A: d0-d2 → 2 + 1 pages
    assert pages[0].text == "text 0\ntext 1"
    assert len(make_pages(_ds(), 3)) == 3
    assert bucket_of(0) == "0-100" and bucket_of(150) == "100-200" and bucket_of(5000) == "1300+"


def test_record_pages_carry_their_text(tmp_path: Path) -> None:
    assert file_stem("Super_Bowl_50_000") == "Super_Bowl_50_000"
    odd = file_stem("a/b c?")
    assert "/" not in odd and odd != file_stem("a/b c!")
    text = "Gospić lies in Lika; Tesla left it for Prague in 1880."
    pdf = write_pdf(tmp_path / "p.pdf", text, title="Nikola Tesla")
    with pymupdf.open(pdf) as doc:
        assert page_text(doc[0]) == f"Nikola Tesla {text}"  # accents survive (a Unicode font)
    assert pdf.read_bytes() == write_pdf(tmp_path / "q.pdf", text, title="Nikola Tesla").read_bytes()
    scan = write_scanned_pdf(tmp_path / "s.pdf", text, long_side=512)
    with pymupdf.open(scan) as doc:
        assert doc[0].get_text().strip() == "" and len(doc[0].get_images()) == 1


def test_a_record_too_long_for_the_page_gets_a_taller_page_not_a_blank_one(tmp_path: Path) -> None:
    text = "\n".join(f"entry {n} . . . . . . . . . . {n}" for n in range(400))  # a manual's index page
    with pymupdf.open(write_pdf(tmp_path / "long.pdf", text)) as doc:
        assert doc[0].rect.height > 842 and page_text(doc[0]) == " ".join(text.split())


def test_read_queries_checks_each_line(tmp_path: Path) -> None:
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": 1, "text": "a"}\n\n{"id": "2", "text": "b"}\n')
    assert [(i.id, i.text) for i in read_queries(f)] == [("1", "a"), ("2", "b")]
    f.write_text('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n')
    with pytest.raises(ValueError, match="q.jsonl:2"):
        read_queries(f)
    f.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="q.jsonl:1"):
        read_queries(f)

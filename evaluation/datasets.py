"""Load an evaldata set: corpus.jsonl, queries.jsonl, qrels.tsv, answers.jsonl (shared/evaldata/README.md).

A sample folder (e.g. `squad-v1.1-dev/sample_1000`) holds only queries/qrels/answers; its corpus is the
parent's. The corpus may be stored gzipped (`corpus.jsonl.gz`, e.g. a dataset kept in the repo).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CorpusDoc:
    id: str
    title: str
    text: str


@dataclass
class EvalDataset:
    """One evaluation set. `queries` keeps file order; `qrels[qid][doc_id] = grade`; `answers[qid]` = gold
    strings."""

    name: str
    corpus: dict[str, CorpusDoc]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    answers: dict[str, list[str]] = field(default_factory=dict)

    def relevant(self, qid: str) -> list[str]:
        """Ids of the documents judged relevant (grade > 0) to a query."""
        return [d for d, g in self.qrels.get(qid, {}).items() if g > 0]


def _jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def corpus_file(folder: Path) -> Path | None:
    """The folder's corpus.jsonl, else its corpus.jsonl.gz; None when it has neither."""
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """TREC-style qrels, no header: `query<TAB>doc<TAB>grade` (extra columns ignored, bad rows skipped)."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[2].lstrip("-").isdigit():
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def load_dataset(path: str | Path, sample: str | None = None) -> EvalDataset:
    """Load a dataset folder, or one of its sample subfolders.

    Args:
        path: the dataset folder (with corpus.jsonl), or a sample folder inside one.
        sample: a sample subfolder name of `path` (e.g. "sample_1000") whose queries/qrels/answers replace the
            full set's.

    Returns:
        The loaded `EvalDataset`.

    Raises:
        FileNotFoundError: no corpus.jsonl(.gz) in the folder or its parent, or no queries/qrels.
    """
    path = Path(path)
    qdir = path / sample if sample else path
    cfile = corpus_file(path) or corpus_file(path.parent)
    if cfile is None:
        raise FileNotFoundError(f"no corpus.jsonl in {path} or {path.parent}")
    cdir = cfile.parent
    for name in ("queries.jsonl", "qrels.tsv"):
        if not (qdir / name).exists():
            raise FileNotFoundError(f"missing {qdir / name}")
    corpus = {}
    for row in _jsonl(cfile):
        corpus[row["id"]] = CorpusDoc(row["id"], row.get("title", ""), row["text"])
    queries = {row["id"]: row["text"] for row in _jsonl(qdir / "queries.jsonl")}
    answers: dict[str, list[str]] = {}
    if (qdir / "answers.jsonl").exists():
        answers = {row["id"]: list(row["answers"]) for row in _jsonl(qdir / "answers.jsonl")}
    name = cdir.name if qdir == cdir else f"{cdir.name}/{qdir.name}"
    return EvalDataset(name, corpus, queries, read_qrels(qdir / "qrels.tsv"), answers)

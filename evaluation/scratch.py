"""A scratch index of an evaluation corpus, built through the normal build path and cached by a key.

Each corpus record is rendered to a one-page PDF named after its id (`render.py`): with a text layer
(`text_source="pdf"`), or as an image only (`"ocr"`), rasterised at the resolution mode's view size so the
text can only come back through the OCR fallback. The PDFs are indexed with `Service.build` into a data dir of
their own. Everything lives under one cache folder whose name carries a key over every input that changes
the index (records, title on/off, text source, mode, layout version, embedder), so a second run with the same
inputs reuses the index (indexing the 2,067 SQuAD paragraphs takes minutes, OCR'ing them much longer), and an
interrupted build resumes where it stopped (the build job is resumable).

    <cache>/<dataset>-<text_source>-<mode>-<key>/
        key.json      the inputs the key was made from
        pages/        one PDF per record
        index/        the Milvus Lite data dir
        built.json    written when the build finished with every page indexed
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from api.service.facade import Service
from api.settings import Settings
from encoder.modes import get_mode
from encoder.text_embedder import text_model_name
from evaluation.datasets import CorpusDoc
from evaluation.render import RENDER_VERSION, file_stem, write_pdf, write_scanned_pdf
from retriever.engine import lite_engine
from retriever.schema import SCHEMA_VERSION

TextSource = Literal["pdf", "ocr"]


def default_cache_dir() -> Path:
    """`$VTRAG_EVAL_CACHE`, else `$XDG_CACHE_HOME/vtrag/eval` (~/.cache/vtrag/eval)."""
    if os.environ.get("VTRAG_EVAL_CACHE"):
        return Path(os.environ["VTRAG_EVAL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vtrag" / "eval"


def scan_size(mode: str) -> int:
    """Pixels on the long side of a scanned page: the mode's (global) view size (Gundam: 1024)."""
    return get_mode(mode).size


def corpus_fingerprint(docs: Iterable[CorpusDoc]) -> str:
    """sha256 over the records' ids, titles and texts, in id order."""
    h = hashlib.sha256()
    for d in sorted(docs, key=lambda d: d.id):
        for part in (d.id, d.title, d.text):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
    return h.hexdigest()


@dataclass
class ScratchIndex:
    """A built (or reused) scratch index: where it is, which file is which record, and how it was made."""

    root: Path
    key: dict[str, Any]
    stem_to_id: dict[str, str]
    reused: bool
    build: dict[str, Any]

    @property
    def data_dir(self) -> Path:
        return self.root / "index"

    def record_id(self, source: str) -> str | None:
        """The corpus id of a search hit's `source` path (None for a file that is not ours)."""
        return self.stem_to_id.get(Path(source).stem)

    def service(self, **overrides: Any) -> Service:
        """A Service over this index (lite profile; settings from VTRAG_* except the data dir and mode)."""
        settings = Settings(data_dir=self.data_dir, milvus_uri=None, mode=self.key["mode"], **overrides)
        return Service(settings)


def prepare(
    name: str,
    docs: list[CorpusDoc],
    *,
    text_source: TextSource = "pdf",
    mode: str = "base",
    title: bool = True,
    cache_dir: Path | None = None,
    workers: int | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> ScratchIndex:
    """Render and index `docs`, or reuse the index a previous run made from the same inputs.

    Args:
        name: dataset name, for the folder name only (slashes become dashes).
        docs: the corpus records to index.
        text_source: "pdf" pages with a text layer, or "ocr" image-only pages.
        mode: resolution mode of the index (and, for "ocr", of the scan).
        title: set each record's title above its text.
        cache_dir: where scratch indexes live (default `default_cache_dir()`).
        workers: page-extraction processes for the build (default: the settings' default).
        on_event: build progress events (the `vtrag index build --json` events) and
            {"event": "render", "done", "total"}.

    Returns:
        The `ScratchIndex`.

    Raises:
        RuntimeError: some pages failed to index (the message names the first failures).
    """
    if text_source not in ("pdf", "ocr"):
        raise ValueError(f"text_source must be 'pdf' or 'ocr', got {text_source!r}")
    mode = get_mode(mode).name
    emit = on_event or (lambda event: None)
    settings = Settings()
    key: dict[str, Any] = {
        "corpus": corpus_fingerprint(docs),
        "records": len(docs),
        "title": title,
        "text_source": text_source,
        "mode": mode,
        "scan_px": scan_size(mode) if text_source == "ocr" else None,
        "render": RENDER_VERSION,
        "text_model": text_model_name(settings.text_backend),
        "schema": SCHEMA_VERSION,  # an index of another schema is refused on open: build a new one instead
        "engine": lite_engine().name,  # another milvus-lite cannot read the files: build a new one instead
    }
    encoder = settings.encoder
    if encoder != "none":  # a vision index stores tokens too: never mixed with a lite one
        key["encoder"] = encoder
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    root = (cache_dir or default_cache_dir()) / f"{name.replace('/', '-')}-{text_source}-{mode}-{digest}"
    pages = root / "pages"
    stems: dict[str, str] = {}
    for d in docs:
        stem = file_stem(d.id)
        if stem in stems:
            raise ValueError(f"records {stems[stem]!r} and {d.id!r} map to the same file name")
        stems[stem] = d.id
    done_marker = root / "built.json"
    if done_marker.exists():
        return ScratchIndex(root, key, stems, True, json.loads(done_marker.read_text()))

    root.mkdir(parents=True, exist_ok=True)
    (root / "key.json").write_text(json.dumps(key, indent=2, sort_keys=True))
    started = time.perf_counter()
    for n, d in enumerate(docs, 1):
        path = pages / f"{file_stem(d.id)}.pdf"
        if not path.exists():  # a rerun after an interruption renders only what is missing
            tmp = path.with_suffix(".tmp")
            heading = d.title if title else None
            if text_source == "pdf":
                write_pdf(tmp, d.text, title=heading)
            else:
                write_scanned_pdf(tmp, d.text, title=heading, long_side=scan_size(mode))
            tmp.replace(path)
        if n % 200 == 0 or n == len(docs):
            emit({"event": "render", "done": n, "total": len(docs)})
    render_s = time.perf_counter() - started
    overrides: dict[str, Any] = {} if workers is None else {"workers": workers}
    index = ScratchIndex(root, key, stems, False, {})
    service = index.service(**overrides)
    try:
        report = service.build([pages], on_event=on_event)
        stats = service.status()
    finally:
        service.close()
    if report.failed:
        first = "; ".join(f"{o.path}: {o.error}" for o in report.failed[:3])
        raise RuntimeError(f"{len(report.failed)} of {len(docs)} pages failed to index: {first}")
    if stats.pages != len(docs) or stats.documents != len(docs):
        # Never score against an index that silently lacks pages: every record is one page.
        raise RuntimeError(
            f"the scratch index holds {stats.documents} documents / {stats.pages} pages "
            f"for {len(docs)} "
            f"records; delete {root} and run again"
        )
    summary = report.summary()
    build = {
        "render_seconds": round(render_s, 1),
        "build_seconds": summary["seconds"],
        "pages_written": summary["pages_written"],
        "pages": stats.pages,
        "pages_by_text_source": stats.pages_by_text_source,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    done_marker.write_text(json.dumps(build, indent=2))
    index.build = build
    return index

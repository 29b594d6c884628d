"""The service facade: the one place the CLI and the REST routes call. Holds no transport concerns."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.client.schemas import (
    AnswerResponse,
    ExtractResult,
    IndexStatus,
    SearchResult,
    SearchResults,
    safe_text,
)
from api.service.answer import AnswerPipeline, Parts
from api.service.read_tracker import ReadTracker
from api.service.reader import Reader
from api.service.retrieval import retrieve
from api.service.snippets import snippet
from api.settings import Settings
from encoder.modes import get_mode
from encoder.text_embedder import TextBackend, TextEmbedder, backend_for, text_model_name
from indexer.auto_mode import AUTO
from retriever.records import IndexConfig, SearchHit
from retriever.store import IndexStore

if TYPE_CHECKING:
    from api.client.compaction_schemas import CompactRequest, CompactResult
    from api.service.runtime import VisionRuntime
    from indexer.job import BuildReport

DOC_ID = re.compile(r"[0-9a-f]{64}")


class Service:
    """Search, answer, build, status and delete over one index.

    Models and the Milvus connection are opened on first use and kept, so a long-lived process (the REST
    app) pays for them once, and importing this module loads nothing.
    """

    def __init__(self, settings: Settings, vision: VisionRuntime | None = None) -> None:
        self.settings = settings
        self._store: IndexStore | None = None
        self._embedder: TextEmbedder | None = None
        self._vision = vision
        self.reader = Reader(settings.reader_dir, settings.device, settings.code_questions_by_rules)
        # The REST server installs its own: its counters, its model lock and the uploads' display names.
        self.answers = AnswerPipeline(settings)
        self.reads = ReadTracker(settings.read_flush_seconds)  # what `index compact --not-read-for` reads

    # -- resources --

    @property
    def embedder(self) -> TextEmbedder:
        """The MiniLM runtime that built the open index (so query vectors match its pages), else the
        settings' backend. The torch backend runs on the settings' device (a GPU build embeds there)."""
        backend = self.settings.text_backend
        if self._store is not None:
            backend = backend_for(self._store.config.text_model) or backend
        if self._embedder is None or self._embedder.backend != backend:
            self._embedder = self._new_embedder(backend)
        return self._embedder

    def _new_embedder(self, backend: TextBackend) -> TextEmbedder:
        device = "cpu"
        if backend == "torch":  # torch (and the device check) load only for this backend
            from api.service.runtime import resolve_device

            device = resolve_device(self.settings.device)
        return TextEmbedder(
            self.settings.text_model_dir,
            max_windows=self.settings.embed_windows,
            backend=backend,
            device=device,
        )

    @property
    def vision(self) -> VisionRuntime | None:
        """The vision model (encoder + generator), or None in the lite profile. Loaded on first use."""
        if self._vision is None and self.settings.encoder != "none":
            from api.service.runtime import VisionRuntime

            self._vision = VisionRuntime.load(
                self.settings.encoder,
                self.settings.weights_dir,
                device=self.settings.device,
                mode=self.settings.mode,
                max_tiles=self.settings.gundam_max_tiles,
            )
        return self._vision

    def index_config(self) -> IndexConfig:
        """The config a build with the current settings would write (and must match)."""
        vision = self.vision
        if vision is not None:
            if self.settings.mode == AUTO and vision.mode != AUTO:
                raise ValueError(f"mode auto needs the deepseek-ocr (v1) encoder; {vision.name} has one")
            mode, max_tiles = vision.mode, vision.max_tiles  # OCR-2 has one fixed layout: "ocr2"
        elif self.settings.mode == AUTO:  # pages may be tiled (Gundam): the cap is part of the identity
            mode, max_tiles = AUTO, get_mode("gundam", self.settings.gundam_max_tiles).max_tiles
        else:
            view_mode = get_mode(self.settings.mode, self.settings.gundam_max_tiles)
            mode, max_tiles = view_mode.name, view_mode.max_tiles if view_mode.tiled else None
        return IndexConfig(
            text_model=text_model_name(self.settings.text_backend),
            text_dim=TextEmbedder.dim,
            mode=mode,
            encoder=vision.name if vision else None,
            vision_dim=vision.dim if vision else None,
            max_tiles=max_tiles,
            token_codec=self.settings.token_codec,
        )

    def _open_beside_embedder(self) -> IndexStore:
        """Open the index while the settings' text model loads in a thread: a cold `vtrag search` waits for
        the engine to load the index anyway (`embedder` replaces the model if the index was built with
        another backend; a load that fails here is retried, and reported, there)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            loading = pool.submit(self._new_embedder, self.settings.text_backend)
            store = self.store()
            if self._embedder is None and loading.exception() is None:
                self._embedder = loading.result()
        return store

    def store(self, *, for_build: bool = False, recreate: bool = False) -> IndexStore:
        if self._store is None or recreate:
            if self._store is not None:
                self._store.close()
            config = self.index_config() if for_build else None
            self._store = IndexStore.open(
                self.settings.index_uri, config, name=self.settings.collection, recreate=recreate
            )
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self.reads.flush(self._store)
            self._store.close()
            self._store = None

    # -- offline build --

    def build(
        self,
        paths: Sequence[Path],
        *,
        recreate: bool = False,
        shard: tuple[int, int] = (0, 1),
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> BuildReport:
        # the search path never loads the build machinery
        from indexer.build_state import default_write_threads
        from indexer.job import BuildOptions, IndexBuilder

        vision = self.vision.encoder if self.vision else None
        if self.settings.encoder_compile:  # checked before the store is touched; compiling itself is lazy
            if vision is None or not hasattr(vision, "compile"):
                raise ValueError("--compile (encoder_compile) is for builds with --encoder deepseek-ocr")
            vision.compile()
        store = self.store(for_build=True, recreate=recreate)
        options = BuildOptions(
            mode=store.config.mode,
            max_tiles=store.config.max_tiles,
            max_compression=self.settings.max_compression,
            workers=self.settings.workers,
            batch_pages=self.settings.batch_pages,
            write_threads=self.settings.write_threads or default_write_threads(vision is not None),
            write_processes=self.settings.write_processes,
            ocr=self.settings.ocr,
            shard=shard,
        )
        return IndexBuilder(
            store,
            self.embedder,
            options,
            vision=vision,
            on_event=on_event,
            count_tokens=self._token_counter(store.config.mode),
        ).run(paths)

    def _token_counter(self, mode: str) -> Callable[[str], int] | None:
        """Auto mode's text-token count: the loaded decoder's tokenizer, else (a lite build given --weights)
        the tokenizer in the weights folder, else None (indexer/auto_mode.estimate_tokens)."""
        if self.vision is not None:
            return self.vision.count_tokens
        if mode == AUTO and self.settings.weights_dir is not None:
            from indexer.auto_mode import tokenizer_counter

            return tokenizer_counter(self.settings.weights_dir)
        return None

    def compact(
        self, request: CompactRequest, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> CompactResult:
        """Optical forgetting: the plan (dry run) or its result; see api/service/compaction.py."""
        from api.service.compaction import compact

        return compact(self.store(), request, lambda: self.vision, self.reads, on_event)

    def status(self) -> IndexStatus:
        store = self.store()
        incomplete = [d for d in store.list_docs() if d.status != "complete"]
        return IndexStatus(
            **store.stats(),
            incomplete_documents=len(incomplete),
            config=store.config.to_dict(),
            index=self.settings.index_uri,
        )

    def delete(self, target: str) -> list[str]:
        """Delete by full doc id or by the path a document was indexed from. Returns the deleted ids."""
        store = self.store()
        if DOC_ID.fullmatch(target):
            doc = store.get_doc(target)
            ids = [doc.doc_id] if doc else []
        else:
            source = os.path.abspath(target)
            ids = [d.doc_id for d in store.docs_by_sources([source])[source]]
        for doc_id in ids:
            store.delete_doc(doc_id)
        return ids

    # -- online --

    def search(self, query: str, *, top_k: int = 10, doc_ids: list[str] | None = None) -> SearchResults:
        """The top pages for a query. Raises ValueError for text REST would refuse (`checked_text`)."""
        hits = self.retrieve(query, top_k, doc_ids)
        self.reads.touch(self.store(), [h.page.page_id for h in hits])
        return SearchResults(results=[_result(h, query) for h in hits])

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        mode: str = "auto",
        full_ocr: bool = False,
        doc_ids: list[str] | None = None,
    ) -> AnswerResponse:
        """Answer a question from the top pages, through the answer pipeline (api/service/answer.py).

        Args:
            mode: auto | generate | extract | extractive (see AnswerRequest). full_ocr: always answer from a
                fresh full OCR of the top pages.
        Raises:
            ModeUnavailableError: mode "generate" with no decoder. ValueError: a question REST would refuse
                (empty, control characters, not UTF-8: `checked_text`).
        """
        checked_text(question)
        store = self.store()  # first: the embedder follows the index's text model
        vision = self.vision
        parts = Parts(store, self.embedder, self.reader, vision, self._vision_leg(store))
        k = top_k or self.settings.top_k
        response = self.answers.run(parts, question, top_k=k, mode=mode, full_ocr=full_ocr, doc_ids=doc_ids)
        self.reads.touch(store, [c.page_id for c in response.citations])
        return response

    def retrieve(self, query: str, top_k: int, doc_ids: list[str] | None = None) -> list[SearchHit]:
        """The top pages for a query (hybrid search), as full page records for a reader or decoder."""
        checked_text(query)
        store = self._store or self._open_beside_embedder()  # the embedder follows the index's text model
        return retrieve(
            store,
            self.embedder,
            query,
            top_k=top_k,
            doc_ids=doc_ids,
            vision=self._vision_leg(store),
            fusion=self.settings.fusion,
        )

    def _vision_leg(self, store: IndexStore) -> VisionRuntime | None:
        """The model for the query's vision vector, when the settings and the index have a vision leg."""
        if not (self.settings.vision_query_leg and store.config.vision_dim):
            return None
        return self.vision

    # -- vision profile --

    def similar(self, *, page_id: str | None = None, image: Any = None, top_k: int = 10) -> SearchResults:
        """Pages that look like a stored page ("pages like this one") or like an image (query by image)."""
        store = self.store()
        if page_id is not None:
            pages = store.get_pages([page_id], with_vectors=True)
            if not pages:
                raise KeyError(page_id)
            if pages[0].vision_vec is None:
                raise ValueError("this index has no vision vectors; build it with --encoder")
            vector = list(pages[0].vision_vec)
        elif image is not None:
            from api.service.vision_ops import pooled_vector

            if self.vision is None:
                raise ValueError("query by image needs a vision encoder (--encoder and --weights)")
            vector = pooled_vector(self.vision, image)
        else:
            raise ValueError("give a page id or an image")
        hits = store.similar_pages(vector, top_k=top_k)
        return SearchResults(results=[_result(h, "") for h in hits])

    def extract(
        self, page_id: str, task: str, *, query: str | None = None, max_new_tokens: int = 2048
    ) -> ExtractResult:
        """Decode a stored page from its tokens (markdown, free_ocr, figure, locate); see api.vision_ops."""
        from api.service.vision_ops import extract

        if self.vision is None:
            raise ValueError(
                "extraction needs a vision model: set --encoder and --weights (VTRAG_ENCODER, "
                "VTRAG_WEIGHTS_DIR)"
            )
        store = self.store()
        result = extract(store, self.vision, page_id, task, query=query, max_new_tokens=max_new_tokens)
        self.reads.touch(store, [page_id])
        if self.settings.ocr_write_back != "off":
            from api.service.write_back import write_back

            result.written_back = write_back(
                store,
                self.embedder,
                result,
                policy=self.settings.ocr_write_back,
                min_confidence=self.settings.answer_min_confidence,
            )
        return result


def _result(hit: SearchHit, query: str) -> SearchResult:
    page = hit.page
    return SearchResult(
        doc_id=page.doc_id,
        source=page.source,
        page=page.page_no,
        score=hit.score,
        snippet=snippet(page.text, query),
        page_id=page.page_id,
    )


def checked_text(text: str) -> str:
    """A query or question as REST would take it: not blank, no control characters, no unpaired surrogates
    (the bytes of a command-line argument that were not UTF-8 arrive as those), within the length ceiling.

    Raises:
        ValueError: one line saying which rule the text breaks.
    """
    if not text.strip():
        raise ValueError("the query is empty")
    return safe_text(text)

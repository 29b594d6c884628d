"""What a running server holds: the Service (index, models), the upload store, the job runner, metrics.

Built in the app's lifespan (`ServerState.start`), so importing the app loads nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from api.rest.jobs import JobRunner
from api.rest.uploads import StoredUpload, UploadStore
from api.service.answer import AnswerPipeline
from api.service.facade import Service
from api.service.metrics import Metrics
from api.service.page_sources import PageSources
from api.settings import Settings

log = logging.getLogger("vtrag.api")


@dataclass
class ServerState:
    settings: Settings
    service: Service
    uploads: UploadStore
    jobs: JobRunner
    metrics: Metrics
    sources: PageSources
    write_lock: threading.Lock
    model_lock: threading.Lock
    key_digests: tuple[bytes, ...] = ()

    @classmethod
    def start(cls, settings: Settings, service: Service, metrics: Metrics) -> ServerState:
        """Open the index (creating it on a fresh data dir), load the models, start the job thread.

        Raises:
            RetrieverError: the index cannot be opened (locked by another process, config mismatch, ...).
        """
        service.store(for_build=True)  # create-or-check with this server's config; the server owns it now
        service.retrieve("warm up", 1)  # load the text model and Milvus' segments before the first request
        uploads = UploadStore(
            Path(os.path.abspath(settings.uploads_dir)),
            max_bytes=settings.max_upload_bytes,
            max_pages=settings.max_pages_per_document,
        )
        write_lock, model_lock = threading.Lock(), threading.Lock()
        sources = PageSources()
        jobs = JobRunner(
            service, write_lock=write_lock, metrics=metrics, max_pending=settings.max_pending_jobs
        )
        # The service answers with this server's counters, model lock and uploaded filenames.
        service.answers = AnswerPipeline(
            settings, sources=sources, model_lock=model_lock, metrics=metrics, display=uploads.display
        )
        state = cls(
            settings,
            service,
            uploads,
            jobs,
            metrics,
            sources,
            write_lock,
            model_lock,
            key_digests=settings.api_key_digests(),
        )
        jobs.start()
        state._resume_uploads()
        return state

    def stop(self) -> None:
        self.jobs.stop()
        self.service.close()

    def _resume_uploads(self) -> None:
        """Queue stored uploads whose documents never became complete (the server stopped mid-queue)."""
        store = self.service.store()
        todo = []
        for path in self.uploads.stored():
            doc_id = self.uploads.owns(path)
            if doc_id is None:
                continue
            doc = store.get_doc(doc_id)
            if doc is None or doc.status != "complete":
                name = self.uploads.filename(doc_id) or path.name
                todo.append(StoredUpload(doc_id, path, name, path.stat().st_size, 0))
        if todo:
            job = self.jobs.submit(todo)
            log.info("resuming %d stored upload(s) as job %s", len(todo), job.job_id)

"""What a running server holds: the Service (index, models), the upload store, the job runner, metrics, keys.

Built in the app's lifespan (`ServerState.start`), so importing the app loads nothing.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from api.rest.auth import KeyEntry
from api.rest.disk import DiskWatch
from api.rest.job_records import JobRecords
from api.rest.jobs import JobRunner
from api.rest.recovery import recover
from api.rest.uploads import UploadStore
from api.service.answer import AnswerPipeline
from api.service.facade import Service
from api.service.metrics import Metrics
from api.service.page_sources import PageSources
from api.settings import Settings


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
    disk: DiskWatch
    keys: tuple[KeyEntry, ...] = ()

    @classmethod
    def start(cls, settings: Settings, service: Service, metrics: Metrics) -> ServerState:
        """Open the index (creating it on a fresh data dir), load the models, put right what a crash left
        (api/rest/recovery.py), start the job thread.

        Raises:
            RetrieverError: the index cannot be opened (locked by another process, config mismatch, ...).
        """
        store = service.store(for_build=True)  # create-or-check with this server's config; the server owns it
        service.retrieve("warm up", 1)  # load the text model and Milvus' segments before the first request
        data_dir = Path(os.path.abspath(settings.data_dir))
        uploads = UploadStore(
            Path(os.path.abspath(settings.uploads_dir)),
            max_bytes=settings.max_upload_bytes,
            max_pages=settings.max_pages_per_document,
        )
        write_lock, model_lock = threading.Lock(), threading.Lock()
        sources = PageSources()
        jobs = JobRunner(
            service,
            write_lock=write_lock,
            metrics=metrics,
            max_pending=settings.max_pending_jobs,
            records=JobRecords(data_dir / "jobs"),
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
            DiskWatch([data_dir, uploads.root], settings.min_free_bytes),
            keys=settings.api_key_entries(),
        )
        recover(store, uploads, jobs)
        jobs.start()
        return state

    def stop(self) -> None:
        self.jobs.stop()
        self.service.close()

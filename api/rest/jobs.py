"""Upload jobs: one background thread runs the build job over stored uploads, one job at a time.

Milvus Lite allows one process per data dir, so the server's Service owns the index and every write
happens in this process: jobs run here in order, holding the write lock that deletes also take. Each job's
record is written to disk when it is queued, starts, finishes a file and ends (api/rest/job_records.py), so
its id still answers after a restart; a job the server stopped in is queued again under its own id at start
(api/rest/recovery.py), for the files it had not finished.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.client.schemas import JobFile, JobProgress, JobResponse
from api.rest.job_records import JobRecords
from api.rest.uploads import StoredUpload
from api.service.facade import Service
from api.service.metrics import Metrics

log = logging.getLogger("vtrag.jobs")
_STOP = object()


class QueueFullError(Exception):
    """Too many jobs are waiting; the client should retry later."""


@dataclass
class _File:
    path: Path
    filename: str
    doc_id: str
    pages: int
    status: str = "queued"
    error: str = ""


@dataclass
class Job:
    job_id: str
    files: list[_File]
    created_at: float = field(default_factory=time.time)
    status: str = "queued"
    started_at: float | None = None
    finished_at: float | None = None
    pages_done: int = 0
    pages_total: int = 0
    error: str = ""

    def view(self) -> JobResponse:
        done = sum(1 for f in self.files if f.status != "queued")
        return JobResponse(
            job_id=self.job_id,
            status=self.status,  # type: ignore[arg-type]
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            progress=JobProgress(
                files_done=done,
                files_total=len(self.files),
                pages_done=self.pages_done,
                pages_total=self.pages_total,
            ),
            files=[
                JobFile(filename=f.filename, doc_id=f.doc_id, status=f.status, pages=f.pages, error=f.error)
                for f in self.files
            ],
            error=self.error,
        )

    def record(self) -> dict[str, Any]:
        """The job as a JSON-able dict (what JobRecords stores)."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "pages_done": self.pages_done,
            "pages_total": self.pages_total,
            "error": self.error,
            "files": [
                {
                    "path": str(f.path),
                    "filename": f.filename,
                    "doc_id": f.doc_id,
                    "pages": f.pages,
                    "status": f.status,
                    "error": f.error,
                }
                for f in self.files
            ],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Job:
        files = [
            _File(Path(f["path"]), f["filename"], f["doc_id"], int(f["pages"]), f["status"], f["error"])
            for f in record["files"]
        ]
        job = cls(record["job_id"], files, created_at=float(record["created_at"]))
        job.status, job.error = record["status"], record["error"]
        job.started_at, job.finished_at = record["started_at"], record["finished_at"]
        job.pages_done, job.pages_total = int(record["pages_done"]), int(record["pages_total"])
        return job


class JobRunner:
    """The in-process job queue and its worker thread.

    Args:
        service: the server's Service (owns the index).
        write_lock: held while a job writes; deletes take it too.
        metrics: pages and documents indexed are counted here.
        max_pending: jobs that may wait before `submit` refuses.
        keep: finished jobs remembered for GET /v1/jobs/{id}.
        records: where job records are kept across restarts (None: in memory only).
    """

    def __init__(
        self,
        service: Service,
        *,
        write_lock: threading.Lock,
        metrics: Metrics,
        max_pending: int,
        keep: int = 1000,
        records: JobRecords | None = None,
    ) -> None:
        self.service = service
        self.records = records
        self.write_lock = write_lock
        self.metrics = metrics
        self.max_pending = max_pending
        self.keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vtrag-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the running job (waiting at most `timeout` s); queued jobs are dropped (their uploads
        stay on disk and are queued again at the next start)."""
        if self._thread is None:
            return
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(_STOP)
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- API --

    def submit(self, uploads: list[StoredUpload], *, limit: bool = True) -> Job:
        """Queue a job indexing `uploads`. Raises QueueFullError when max_pending jobs already wait (unless
        `limit` is off: recovery at start must queue what it finds)."""
        unique: dict[str, StoredUpload] = {}
        for upload in uploads:  # the same bytes twice: index once, under the first name
            unique.setdefault(upload.doc_id, upload)
        files = [_File(u.path, u.filename, u.doc_id, u.pages) for u in unique.values()]
        job = Job(uuid.uuid4().hex, files)
        with self._lock:
            if limit and self.queued() >= self.max_pending:
                raise QueueFullError(f"{self.max_pending} jobs are already waiting")
            self._jobs[job.job_id] = job
            self._trim()
            self._save(job)
        self._queue.put(job)
        return job

    def restore(self) -> list[Job]:
        """Load the stored job records (at start, before `start`); returns the jobs that never finished."""
        if self.records is None:
            return []
        unfinished = []
        with self._lock:
            for record in self.records.load():
                try:
                    job = Job.from_record(record)
                except (KeyError, TypeError, ValueError):
                    continue
                self._jobs[job.job_id] = job
                if job.finished_at is None:
                    unfinished.append(job)
            self._trim()
        return unfinished

    def requeue(self, job: Job, gone: set[str]) -> None:
        """Queue a restored job again under its own id, for its files still to do; files of `gone` doc ids
        (deleted meanwhile) fail instead."""
        with self._lock:
            job.status, job.started_at, job.pages_done, job.pages_total = "queued", None, 0, 0
            for f in job.files:
                if f.status in ("queued", "running") and f.doc_id in gone:
                    f.status, f.error = "failed", "the document was deleted before it was indexed"
                elif f.status == "running":
                    f.status = "queued"
            self._save(job)
        self._queue.put(job)

    def get(self, job_id: str) -> JobResponse | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.view() if job is not None else None

    def queued(self) -> int:
        return sum(1 for j in list(self._jobs.values()) if j.status == "queued")

    def pending_paths(self) -> set[Path]:
        """Files that queued or running jobs still need."""
        with self._lock:
            return {f.path for j in self._jobs.values() if j.status in ("queued", "running") for f in j.files}

    def _trim(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.finished_at is not None]
        for key in finished[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[key]
            if self.records is not None:
                self.records.remove(key)

    def _save(self, job: Job) -> None:
        """Write the job's record (callers hold self._lock)."""
        if self.records is not None:
            self.records.save(job.record())

    # -- worker --

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            try:
                self._run(job)
            except Exception:  # never let one job kill the worker
                log.exception("job %s crashed", job.job_id)

    def _run(self, job: Job) -> None:
        by_path = {str(f.path): f for f in job.files}
        todo = [f.path for f in job.files if f.status == "queued"]
        with self._lock:
            job.status, job.started_at = "running", time.time()
            self._save(job)

        def on_event(event: dict[str, Any]) -> None:
            kind = event.get("event")
            with self._lock:
                if kind == "plan":
                    job.pages_total = int(event.get("pages", 0))
                elif kind == "pages":
                    job.pages_done += int(event.get("written", 0))
                elif kind == "document":
                    f = by_path.get(str(event.get("path")))
                    if f is not None:
                        f.status = str(event.get("status", "failed"))
                        f.error = str(event.get("error", ""))
                        f.pages = int(event.get("pages") or f.pages)
                        self._save(job)
            if kind == "pages":
                self.metrics.inc("vtrag_pages_indexed_total", int(event.get("written", 0)))
            elif kind == "document":
                self.metrics.inc("vtrag_documents_indexed_total", status=str(event.get("status")))

        try:
            with self.write_lock:
                if todo:
                    self.service.build(todo, on_event=on_event)
        except Exception as exc:
            log.exception("job %s failed", job.job_id)
            with self._lock:
                job.error = f"{type(exc).__name__}: {exc}"
                for f in job.files:
                    if f.status == "queued":
                        f.status, f.error = "failed", "the job stopped before this file was indexed"
        with self._lock:
            failed = sum(1 for f in job.files if f.status == "failed")
            if job.error or failed == len(job.files):
                job.status = "failed"
            else:
                job.status = "partial" if failed else "succeeded"
            job.finished_at = time.time()
            self._save(job)
            self._trim()
        self.metrics.inc("vtrag_jobs_total", status=job.status)

"""What a server puts right at start, before it serves, after a crash or a restart mid-queue.

In order: half-written uploads (`uploads/.incoming/*`) are removed; deletes that began (a tombstone, or a
manifest row still "deleting") are finished, stored upload included, and never indexed again; jobs the server
stopped in are queued again under their own ids; stored uploads that no job covers and that never became
complete are queued as one more job. Documents that failed stay failed: their error is kept and shown, and
start-up does not retry them (a file that failed its checks fails them again; upload it again to retry).
"""

from __future__ import annotations

import logging

from api.rest.jobs import JobRunner
from api.rest.uploads import StoredUpload, UploadStore
from retriever.store import IndexStore

log = logging.getLogger("vtrag.api")


def recover(store: IndexStore, uploads: UploadStore, jobs: JobRunner) -> None:
    """Run every recovery step (call before the job thread starts)."""
    cleaned = uploads.clean_incoming()
    if cleaned:
        log.warning("removed %d half-written upload file(s) left by a crash", cleaned)
    gone = finish_deletes(store, uploads)
    restored = jobs.restore()
    for job in restored:
        jobs.requeue(job, gone)
    covered = {f.doc_id for job in restored for f in job.files if f.status == "queued"}
    todo = []
    for path in uploads.stored():
        doc_id = uploads.owns(path)
        if doc_id is None or doc_id in covered:
            continue
        doc = store.get_doc(doc_id)
        if doc is None or doc.status == "indexing":
            name = uploads.filename(doc_id) or path.name
            todo.append(StoredUpload(doc_id, path, name, path.stat().st_size, 0))
    if restored:
        log.info("queued %d interrupted job(s) again", len(restored))
    if todo:
        job = jobs.submit(todo, limit=False)
        log.info("resuming %d stored upload(s) as job %s", len(todo), job.job_id)


def finish_deletes(store: IndexStore, uploads: UploadStore) -> set[str]:
    """Finish every delete a crash cut short; returns the doc ids deleted."""
    ids = set(uploads.deleting()) | {d.doc_id for d in store.list_docs("deleting")}
    for doc_id in sorted(ids):
        log.warning("finishing the interrupted delete of %s", doc_id)
        store.delete_doc(doc_id)
        uploads.remove(doc_id)
    return ids
